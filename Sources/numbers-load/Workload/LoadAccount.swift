/// An account the harness made for itself: its id, the `authorization` value of its own key, and numbers it owns
/// (GetNumber targets).
struct LoadAccount: Sendable, Hashable {
    var id: String
    var authorization: String
    var numberIds: [String]
}
