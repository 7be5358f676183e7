/// An HTTP method the client sends.
public enum HTTPMethod: String, Sendable, Hashable, CaseIterable {
    case get = "GET"
    case post = "POST"
    case put = "PUT"
    case patch = "PATCH"
    case delete = "DELETE"
    case head = "HEAD"
}

/// One HTTP header: a name and a value, kept in the order given.
public struct HTTPHeader: Sendable, Hashable {
    /// The header name, e.g. `Content-Type`.
    public var name: String
    /// The header value.
    public var value: String

    /// Creates a header.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// Credentials sent with HTTP Basic authentication. Neither `description` nor reflection (`dump`, a logger that
/// mirrors a request) shows the password.
public struct BasicCredentials: Sendable, Hashable, CustomStringConvertible, CustomReflectable {
    /// The user name (for Twilio an `AC…` account SID or an `SK…` API key SID).
    public var username: String
    /// The password (an auth token or an API key secret).
    public var password: String

    /// Creates credentials.
    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    /// The user name with the password redacted.
    public var description: String { "BasicCredentials(username: \(username), password: <redacted>)" }

    /// A mirror without the password.
    public var customMirror: Mirror { Mirror(self, children: ["username": username, "password": "<redacted>"]) }
}

/// A request for ``CurlHTTPClient/execute(_:)``.
///
/// ```swift
/// let request = HTTPRequest(method: .post, url: "https://api.example.com/things",
///                           headers: [HTTPHeader(name: "Content-Type", value: FormURLEncoding.contentType)],
///                           body: Array(FormURLEncoding.encode([("Name", "a b")]).utf8))
/// ```
public struct HTTPRequest: Sendable, Hashable {
    /// The method.
    public var method: HTTPMethod
    /// The absolute `https://` URL, already percent-encoded.
    public var url: String
    /// Headers to send, in order. `Expect` is suppressed so a body goes out without a 100-continue pause.
    public var headers: [HTTPHeader]
    /// The body, or `nil` for none.
    public var body: [UInt8]?
    /// Basic-auth credentials, or `nil`.
    public var basicAuth: BasicCredentials?
    /// Total timeout of this request in milliseconds; `nil` uses the configuration's `totalMilliseconds`.
    public var timeoutMilliseconds: Int?
    /// Whether libcurl may send the request a second time by itself: when a reused keep-alive connection closes
    /// before any answer, libcurl silently re-sends on a new connection. That is harmless for a GET but could
    /// buy a number twice, so when this is `false` the second send is refused (libcurl's pre-request callback),
    /// and a lost answer surfaces as `.connectionLost` with `requestMayHaveBeenSent`. Such a request still reuses
    /// a kept-alive connection idle for less than `Timeouts.nonRepeatableReuseIdleSeconds`.
    /// Default: `true` for GET, HEAD, PUT and DELETE; `false` for POST and PATCH.
    public var allowsSilentResend: Bool

    /// Creates a request.
    public init(
        method: HTTPMethod,
        url: String,
        headers: [HTTPHeader] = [],
        body: [UInt8]? = nil,
        basicAuth: BasicCredentials? = nil,
        timeoutMilliseconds: Int? = nil,
        allowsSilentResend: Bool? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.basicAuth = basicAuth
        self.timeoutMilliseconds = timeoutMilliseconds
        self.allowsSilentResend = allowsSilentResend ?? (method != .post && method != .patch)
    }
}
