/// An account the harness made for itself: its id, the `authorization` value of its own key, and numbers it owns
/// (GetNumber targets).
struct LoadAccount: Sendable, Hashable {
    var id: String
    let authorization: String
    var numberIds: [String]
    /// `authorization` as call metadata, made once: every call shares it instead of building a dictionary.
    let metadata: [String: String]

    init(id: String, authorization: String, numberIds: [String]) {
        self.id = id
        self.authorization = authorization
        self.numberIds = numberIds
        self.metadata = ["authorization": authorization]
    }
}
