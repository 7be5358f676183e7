/// One HTTP response produced by the router: status, headers and body bytes.
public struct SimulatorResponse: Sendable, Equatable {
    /// The HTTP status code.
    public var status: Int
    /// Extra header fields (Content-Type and Content-Length are added by the server).
    public var headers: [String: String]
    /// The body; empty for 204.
    public var body: [UInt8]

    /// Creates a response from its parts.
    public init(status: Int, headers: [String: String] = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response with `Content-Type: application/json; charset=utf-8`.
    public static func json(_ status: Int, _ value: JSONValue, headers: [String: String] = [:]) -> SimulatorResponse {
        var all = headers
        all["Content-Type"] = "application/json; charset=utf-8"
        return SimulatorResponse(status: status, headers: all, body: Array(value.serialized().utf8))
    }

    /// Twilio's error body `{code, message, more_info, status}` with the given HTTP status.
    public static func twilioError(_ error: TwilioError, headers: [String: String] = [:]) -> SimulatorResponse {
        .json(error.status, error.body, headers: headers)
    }

    /// 204 No Content with an empty body (Twilio's answer to DELETE).
    public static let noContent = SimulatorResponse(status: 204)

    /// The body as UTF-8 text (for tests and logs).
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}
