/// One HTTP request as the simulator's router sees it: transport-free, so routing is a pure function.
public struct SimulatorRequest: Sendable, Equatable {
    /// The HTTP method in upper case (`GET`, `POST`, `DELETE`, ...).
    public var method: String
    /// The path without the query string, still percent-encoded as sent.
    public var path: String
    /// The raw query string (without `?`), empty when absent.
    public var rawQuery: String
    /// Header fields; names compare case-insensitively through `header(_:)`.
    public var headers: [(String, String)]
    /// The body bytes.
    public var body: [UInt8]
    /// The Twilio host it was sent to: `.any` unless the transport set it from the path's prefix (then ``path`` is
    /// the path at that host, without the prefix).
    public var host: TwilioHost = .any

    /// Creates a request from its parts; `target` is the request target (path plus optional `?query`), at no host in
    /// particular (``host`` `.any`).
    public init(method: String, target: String, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.method = method.uppercased()
        if let mark = target.firstIndex(of: "?") {
            self.path = String(target[..<mark])
            self.rawQuery = String(target[target.index(after: mark)...])
        } else {
            self.path = target
            self.rawQuery = ""
        }
        self.headers = headers
        self.body = body
    }

    /// The first value of header `name` (case-insensitive), or nil.
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first(where: { $0.0.lowercased() == lower })?.1
    }

    /// The decoded query parameters in order.
    public var queryParameters: FormParameters { FormParameters(encoded: rawQuery) }

    /// The decoded `application/x-www-form-urlencoded` body (empty for another content type).
    public var formParameters: FormParameters {
        guard !body.isEmpty else { return FormParameters(pairs: []) }
        let type = header("Content-Type")?.lowercased() ?? ""
        guard type.hasPrefix("application/x-www-form-urlencoded") else { return FormParameters(pairs: []) }
        return FormParameters(encoded: String(decoding: body, as: UTF8.self))
    }

    public static func == (lhs: SimulatorRequest, rhs: SimulatorRequest) -> Bool {
        lhs.method == rhs.method && lhs.path == rhs.path && lhs.rawQuery == rhs.rawQuery && lhs.host == rhs.host
            && lhs.body == rhs.body && lhs.headers.map { "\($0.0):\($0.1)" } == rhs.headers.map { "\($0.0):\($0.1)" }
    }
}
