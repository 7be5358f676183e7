import Foundation

@testable import TwilioSimulator

extension SimulatorEngine {
    /// Sends one request to the engine as its account (auth token), form-encoded when `form` is given: the status and
    /// the JSON body (empty when there is none, or no response was sent).
    @discardableResult
    func send(_ method: String, _ path: String, form: [(String, String)] = []) -> (status: Int, json: [String: Any]) {
        var headers = [("Authorization", RouterHarness.basic(credentials.accountSid, credentials.authToken))]
        if !form.isEmpty { headers.append(("Content-Type", "application/x-www-form-urlencoded")) }
        let request = SimulatorRequest(
            method: method, target: path, headers: headers, body: Array(FormParameters(pairs: form).encoded().utf8))
        guard case .respond(let response) = handle(request) else { return (0, [:]) }
        let json = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
        return (response.status, json)
    }

    /// `/2010-04-01/Accounts/{AccountSid}`.
    var api: String { "/2010-04-01/Accounts/\(credentials.accountSid)" }
}
