/// One request the simulator received, as tests inspect it.
public struct RequestLogEntry: Sendable, Equatable {
    /// Upper-case method.
    public var method: String
    /// Path without query, at the Twilio host it was sent to (without the simulator's API prefix); at most
    /// `requestLogEntryBytesMax` bytes of it.
    public var path: String
    /// Raw query string, at most `requestLogEntryBytesMax` bytes of it; empty for a request that did not
    /// authenticate, whose query and form are a stranger's to fill.
    public var query: String
    /// The decoded form body parameters, the first that fit in `requestLogEntryBytesMax` bytes with the query;
    /// empty for a request that did not authenticate.
    public var form: [String: String]
    /// The operation recognised.
    public var endpoint: Endpoint
    /// The HTTP status sent, or nil when no response was sent (reset, stall, lost response).
    public var status: Int?
    /// The fault injected, if any.
    public var fault: FaultKind?
    /// True when the request changed state (e.g. a number was bought) whatever the client saw.
    public var acted: Bool
    /// The Twilio host it was sent to (by the simulator's path prefix; `.any` in memory).
    public var host: TwilioHost = .any
    /// The credential it authenticated with (never the secret); nil when it did not authenticate or was not routed
    /// (a fault answered it).
    public var credential: RequestCredential? = nil
    /// True when part of the path, query or form was dropped to keep the entry within `requestLogEntryBytesMax`.
    public var truncated = false

    /// What a form pair costs in an entry's byte budget besides its name and value: about what the form dictionary
    /// holds per pair, so a form of many tiny pairs is bounded too.
    public static let pairOverheadBytes = 32

    /// Sets the path, cut to `bytesMax` bytes.
    mutating func keep(path: String, bytesMax: Int) {
        let kept = Self.prefix(path, bytesMax: bytesMax)
        if kept.utf8.count < path.utf8.count { truncated = true }
        self.path = kept
    }

    /// Sets the query, then the form's pairs in order, within `bytesMax` bytes together (each pair counting
    /// ``pairOverheadBytes`` besides its name and value): a query longer than that is cut, and the first pair that
    /// does not fit is dropped with every pair after it.
    mutating func keep(query: String, form pairs: [(String, String)], bytesMax: Int) {
        self.query = Self.prefix(query, bytesMax: bytesMax)
        if self.query.utf8.count < query.utf8.count { truncated = true }
        var used = self.query.utf8.count
        var form: [String: String] = [:]
        for (name, value) in pairs {
            let cost = name.utf8.count + value.utf8.count + Self.pairOverheadBytes
            guard used + cost <= bytesMax else {
                truncated = true
                break
            }
            used += cost
            form[name] = value
        }
        self.form = form
    }

    /// The longest prefix of `text` of at most `bytesMax` UTF-8 bytes that ends between two Unicode scalars.
    static func prefix(_ text: String, bytesMax: Int) -> String {
        guard text.utf8.count > bytesMax else { return text }
        var kept = String.UnicodeScalarView()
        var used = 0
        for scalar in text.unicodeScalars {
            used += UTF8.width(scalar)
            guard used <= bytesMax else { break }
            kept.append(scalar)
        }
        return String(kept)
    }
}
