/// Twilio's three REST APIs, each on a host of its own at Twilio (`api.twilio.com`, `pricing.twilio.com`,
/// `trunking.twilio.com`). The simulator serves them on one port, each under its own path prefix (`/api`,
/// `/pricing`, `/trunking`), and a path of one API under another's prefix is not found there, as at Twilio: a client
/// that sends a call to the wrong host is caught.
public enum TwilioAPI: String, Sendable, Hashable, CaseIterable, Codable {
    /// The 2010 API (`/2010-04-01/…`: available and incoming numbers).
    case api
    /// Pricing v1 (`/v1/PhoneNumbers/…`).
    case pricing
    /// Elastic SIP Trunking v1 (`/v1/Trunks…`).
    case trunking

    /// The path prefix the simulator serves this API under, e.g. `/pricing`.
    public var pathPrefix: String { "/" + rawValue }

    /// This API's base URL at a simulator whose base URL is `base` (`https://127.0.0.1:8443/pricing`).
    public func url(atSimulator base: String) -> String { base + pathPrefix }

    /// The API whose prefix `path` starts with, and the path at that API's host (`/pricing/v1/Trunks` →
    /// `(.pricing, "/v1/Trunks")`); nil when it starts with none.
    static func split(_ path: String) -> (TwilioAPI, String)? {
        for api in allCases where path == api.pathPrefix || path.hasPrefix(api.pathPrefix + "/") {
            let rest = String(path.dropFirst(api.pathPrefix.count))
            return (api, rest.isEmpty ? "/" : rest)
        }
        return nil
    }

    /// `path` (a path at a Twilio host, `/v1/Trunks`, with or without a query) under the prefix of the API that serves it
    /// (`/trunking/v1/Trunks`); a path no API serves is returned as it is. For tests and tools that hold Twilio
    /// paths; the adapter is given each API's base URL instead.
    public static func hostedPath(_ path: String) -> String {
        let withoutQuery = path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        guard let api = Route(path: String(withoutQuery)).api else { return path }
        return api.pathPrefix + path
    }
}

/// Which Twilio host a request was sent to.
public enum TwilioHost: Sendable, Hashable {
    /// None in particular: the in-memory path (``SimulatorEngine/handle(_:)``, tests) routes every API's paths.
    case any
    /// This API's host (the request came under its prefix): the other APIs' paths are not found there.
    case only(TwilioAPI)
    /// No API's host (a path under no prefix at the simulator's port): nothing is found there.
    case none
}
