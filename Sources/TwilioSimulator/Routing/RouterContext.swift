import Foundation

/// What a routing call needs besides the request and the state: configuration, URL base and the time.
public struct RouterContext: Sendable {
    /// The simulator's configuration.
    public var configuration: SimulatorConfiguration
    /// The simulator's base URL, e.g. `https://127.0.0.1:8443` (no trailing slash); absolute URLs in v1 responses
    /// are built on ``baseURL(of:)``.
    public var baseURL: String
    /// The Twilio host the request was sent to (`.any` in memory).
    public var host: TwilioHost = .any
    /// The current time, stamped on created and updated resources.
    public var now: Date
    /// How long a number this request creates stays out of lists, fetches and deletes (a list-lag fault), ms; 0
    /// shows it at once.
    public var listLagMilliseconds = 0

    /// Creates a context from its parts.
    public init(configuration: SimulatorConfiguration, baseURL: String, now: Date) {
        self.configuration = configuration
        self.baseURL = baseURL
        self.now = now
    }
}

extension RouterContext {
    /// Where `api` is, for absolute URLs in responses: its prefix under ``baseURL`` when the request came to a host
    /// (over HTTP), so a `url` or `next_page_url` leads to the API that serves it; ``baseURL`` itself in memory.
    public func baseURL(of api: TwilioAPI) -> String {
        host == .any ? baseURL : api.url(atSimulator: baseURL)
    }
}

/// The router's answer: the response and whether state changed.
public struct RouteResult: Sendable {
    /// The response to send (unless a fault replaces it).
    public var response: SimulatorResponse
    /// True when the request changed state (a purchase, a release, an update...).
    public var acted: Bool
    /// The credential the request authenticated with; nil when it did not.
    public var credential: RequestCredential? = nil
}
