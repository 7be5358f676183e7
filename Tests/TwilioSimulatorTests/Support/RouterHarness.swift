import Foundation

@testable import TwilioSimulator

/// Drives the router as a pure function over a state value, with the account's credentials by default.
struct RouterHarness {
    var state: SimulatorState
    var context: RouterContext
    let configuration: SimulatorConfiguration

    init(configuration: SimulatorConfiguration = .defaults, now: Date = Date(timeIntervalSince1970: 1_438_298_344)) {
        self.configuration = configuration
        self.state = SimulatorState(configuration: configuration)
        self.context = RouterContext(configuration: configuration, baseURL: "https://sim.test", now: now)
    }

    var account: String { configuration.credentials.accountSid }
    var api: String { "/2010-04-01/Accounts/\(account)" }

    static func basic(_ user: String, _ password: String) -> String {
        "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }

    var authorization: String { RouterHarness.basic(account, configuration.credentials.authToken) }

    mutating func send(
        _ method: String, _ path: String, query: [(String, String)] = [], form: [(String, String)] = [],
        authorization: String? = nil
    ) -> Reply {
        let target = query.isEmpty ? path : path + "?" + FormParameters(pairs: query).encoded()
        var headers = [("Authorization", authorization ?? self.authorization)]
        if !form.isEmpty { headers.append(("Content-Type", "application/x-www-form-urlencoded")) }
        let request = SimulatorRequest(
            method: method, target: target, headers: headers, body: Array(FormParameters(pairs: form).encoded().utf8))
        let result = Router.handle(request, state: &state, context: context)
        return Reply(status: result.response.status, body: result.response.body, headers: result.response.headers)
    }

    /// Searches and returns the phone numbers found.
    mutating func search(
        _ country: String = "US", _ type: String = "Local", _ query: [(String, String)] = []
    )
        -> [[String: Any]]
    {
        let reply = send("GET", "\(api)/AvailablePhoneNumbers/\(country)/\(type).json", query: query)
        return reply.json["available_phone_numbers"] as? [[String: Any]] ?? []
    }

    /// Buys a number and returns the reply.
    mutating func buy(_ number: String, extra: [(String, String)] = []) -> Reply {
        send("POST", "\(api)/IncomingPhoneNumbers.json", form: [("PhoneNumber", number)] + extra)
    }
}

/// A response with its JSON body decoded for assertions.
struct Reply {
    var status: Int
    var body: [UInt8]
    var headers: [String: String]

    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
    }

    var code: Int? { json["code"] as? Int }
    var text: String { String(decoding: body, as: UTF8.self) }
}
