import Foundation

/// Twilio's REST behaviour as a pure function: request + state in, response out.
///
/// Usage: `let result = Router.handle(request, state: &state, context: context)`.
public enum Router {
    /// Handles one request: authentication, then the endpoint's logic.
    public static func handle(
        _ request: SimulatorRequest, state: inout SimulatorState, context: RouterContext
    ) -> RouteResult {
        let route = Route(request)
        var credential: RequestCredential?
        do throws(TwilioError) {
            credential = try authorize(request, route: route, credentials: context.configuration.credentials)
            var result = try dispatch(request, route: route, state: &state, context: context)
            result.credential = credential
            return result
        } catch {
            return RouteResult(response: .twilioError(error), acted: false, credential: credential)
        }
    }

    /// Checks Basic auth (AccountSid:AuthToken or API key SID:secret) and the AccountSid in a 2010 path; returns the
    /// credential that authenticated.
    @discardableResult
    static func authorize(
        _ request: SimulatorRequest, route: Route, credentials: SimulatorCredentials
    ) throws(TwilioError) -> RequestCredential {
        guard let (username, password) = basicCredentials(request.header("Authorization")),
            let credential = credentials.credential(username: username, password: password)
        else { throw .authenticate }
        // A Standard API key may not read the Accounts resource (Twilio's docs, "API keys": "access to all Twilio API
        // resources, except for Accounts (/Accounts) or Keys").
        if case .account = route, case .apiKey(let sid) = credential, !credentials.mainApiKeys.contains(sid) {
            throw .authenticate
        }
        guard let account = route.pathAccount, account != credentials.accountSid else { return credential }
        // An API key SID in the path is a 404 (twilio-api.md §1.2); another account is a 401.
        if account.hasPrefix("SK") { throw .notFound(request.path) }
        throw .authenticate
    }

    /// `(username, password)` from an `Authorization: Basic …` header, or nil when absent or malformed.
    public static func basicCredentials(_ header: String?) -> (String, String)? {
        guard let header, header.count > 6, header.prefix(6).lowercased() == "basic " else { return nil }
        guard let data = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
            let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    private static func dispatch(
        _ request: SimulatorRequest, route: Route, state: inout SimulatorState, context: RouterContext
    ) throws(TwilioError) -> RouteResult {
        let endpoint = route.endpoint(method: request.method)
        switch (route, endpoint) {
        case (.unknown, _): throw .notFound(request.path)
        case (_, .unknown): throw .methodNotAllowed
        case (.account, _): return read(account(context: context))
        case (.availableCountries, _): return read(availableCountries(request))
        case (.availableCountry(_, let country), _): return read(try availableCountry(request, iso: country))
        case (.availableNumbers(_, let country, let type), _):
            return read(try search(request, country: country, type: type, state: state, context: context))
        case (.incomingNumbers(_, let type), .buyNumber):
            return try buy(request, type: type, state: &state, context: context)
        case (.incomingNumbers(_, let type), _):
            return read(try listIncoming(request, type: type, state: state, context: context))
        case (.incomingNumber(_, let sid), .fetchNumber):
            return read(try fetchIncoming(request, sid: sid, state: state, context: context))
        case (.incomingNumber(_, let sid), .updateNumber):
            return try updateIncoming(request, sid: sid, state: &state, context: context)
        case (.incomingNumber(_, let sid), _):
            return try releaseIncoming(request, sid: sid, state: &state, context: context)
        case (.pricingCountries, _): return read(try pricingCountries(request, context: context))
        case (.pricingCountry(let iso), _): return read(try pricingCountry(request, iso: iso, context: context))
        case (.trunks, _), (.trunk, _):
            return try trunking(request, route: route, endpoint: endpoint, state: &state, context: context)
        case (.trunkNumbers, _), (.trunkNumber, _):
            return try trunkNumbers(request, route: route, endpoint: endpoint, state: &state, context: context)
        case (.originationUrls(let trunk), _):
            return try originationUrls(request, trunkSid: trunk, endpoint: endpoint, state: &state, context: context)
        case (.originationUrl(let trunk, let sid), _):
            return read(try fetchOriginationUrl(request, trunkSid: trunk, sid: sid, state: state, context: context))
        }
    }

    static func read(_ response: SimulatorResponse) -> RouteResult {
        RouteResult(response: response, acted: false)
    }

    static func wrote(_ response: SimulatorResponse) -> RouteResult {
        RouteResult(response: response, acted: true)
    }

    /// The path with its query, as Twilio echoes it in `uri`.
    static func echoURI(_ request: SimulatorRequest) -> String {
        request.rawQuery.isEmpty ? request.path : request.path + "?" + request.rawQuery
    }
}
