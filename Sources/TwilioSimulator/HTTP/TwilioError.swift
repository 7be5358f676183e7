/// A Twilio REST error: an HTTP status plus Twilio's numeric code and message.
public struct TwilioError: Error, Sendable, Equatable {
    /// The HTTP status (400, 401, 404, 429, 500, ...).
    public var status: Int
    /// Twilio's error code (20003, 20404, 21422, ...).
    public var code: Int
    /// The human-readable message.
    public var message: String

    /// Creates an error from its parts.
    public init(status: Int, code: Int, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    /// The JSON body Twilio sends: `{"code", "message", "more_info", "status"}`.
    public var body: JSONValue {
        .object([
            ("code", .int(code)),
            ("message", .string(message)),
            ("more_info", .string("https://www.twilio.com/docs/errors/\(code)")),
            ("status", .int(status)),
        ])
    }

    /// 401/20003: missing or wrong credentials.
    public static let authenticate = TwilioError(status: 401, code: 20003, message: "Authenticate")

    /// 404/20404 for `path`, with Twilio's message wording.
    public static func notFound(_ path: String) -> TwilioError {
        TwilioError(status: 404, code: 20404, message: "The requested resource \(path) was not found")
    }

    /// 429/20429: too many concurrent requests; the request was not processed.
    public static let tooManyRequests = TwilioError(status: 429, code: 20429, message: "Too Many Requests")

    /// 500/20500: internal server error.
    public static let internalError = TwilioError(status: 500, code: 20500, message: "Internal Server Error")

    /// 503/20503: service unavailable.
    public static let serviceUnavailable = TwilioError(status: 503, code: 20503, message: "Service Unavailable")

    /// 400/21421: the phone number is malformed.
    public static func invalidPhoneNumber(_ number: String) -> TwilioError {
        TwilioError(status: 400, code: 21421, message: "PhoneNumber \(number) is invalid.")
    }

    /// 400/21422: the number is not (or no longer) available to buy.
    public static func numberNotAvailable(_ number: String) -> TwilioError {
        TwilioError(status: 400, code: 21422, message: "Phone number \(number) is not available.")
    }

    /// 400/21649: the number is regulated and the purchase carries no approved `BundleSid` (Twilio's reported
    /// message, "Bundle required and not provided"; twilio-api.md §6.2).
    public static func bundleRequired(_ number: String, country: String, given: String?) -> TwilioError {
        let why = given.map { "\($0) is not an approved Bundle for \(country) numbers" } ?? "no BundleSid"
        return TwilioError(
            status: 400, code: 21649, message: "Bundle required and not provided: \(number) (\(country)): \(why)")
    }

    /// 400/20001 for a malformed parameter (the simulator's choice where Twilio's code is undocumented).
    public static func invalidParameter(_ name: String, _ detail: String) -> TwilioError {
        TwilioError(status: 400, code: 20001, message: "Invalid parameter \(name): \(detail)")
    }

    /// 405/20004: method not allowed on this resource.
    public static let methodNotAllowed = TwilioError(status: 405, code: 20004, message: "Method not allowed")
}
