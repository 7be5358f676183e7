/// Rotating the credentials of a running adapter: an operator replaces the auth token (Twilio's secondary token,
/// promoted later) or the API key secret, and numberd takes it on SIGHUP without dropping calls.
extension TwilioProvider {
    /// What ``rotateCredentials(to:)`` did.
    public enum CredentialRotation: String, Sendable {
        /// The candidate is the credentials in use: nothing sent, nothing changed.
        case unchanged
        /// Twilio accepted the candidate; every later request sends it.
        case rotated
    }

    /// The credentials requests send now (the start's, until a rotation).
    public var credentials: TwilioCredentials {
        transport.credentials.current
    }

    /// Checks `candidate` with one cheap authenticated request (a one-entry page of the account's numbers) and,
    /// only if Twilio accepts it, makes every later request send it; requests already sent (and their retries) keep
    /// the credentials they started with. Throws, keeping the old credentials: `.authentication` when Twilio refuses
    /// the candidate (401/20003), `.unavailable` when Twilio cannot be reached, `.invalidArgument` for a candidate of
    /// another account (the account SID is in every path and names the data directory's provider binding: it never
    /// changes while running).
    public func rotateCredentials(to candidate: TwilioCredentials) async throws(ProviderError) -> CredentialRotation {
        let current = credentials
        guard candidate.accountSid == current.accountSid else {
            throw ProviderError(
                .invalidArgument,
                message:
                    "the account SID may not change while running (\(current.accountSid) → \(candidate.accountSid)): "
                    + "it names the account this data directory's numbers are owned at")
        }
        guard candidate != current else { return .unchanged }
        try await checkCredentials(candidate)
        transport.credentials.replace(with: candidate)
        return .rotated
    }

    /// Checks the credentials in use with the same one cheap request as a rotation's (numberd's start: a wrong token,
    /// key or account SID is said at once, not by the first customer's call). Throws as ``rotateCredentials(to:)``
    /// does: `.authentication` when Twilio refuses them, `.misconfigured` when the account's path is not Twilio's.
    public func checkCredentialsInUse() async throws(ProviderError) {
        try await checkCredentials(credentials, operation: "check credentials")
    }

    /// `GET /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json?PageSize=1` with `candidate`: returns when
    /// Twilio answers it with a page of the account's numbers. Not the Accounts resource itself
    /// (`/Accounts/{AccountSid}.json`), which a Standard API key — the kind Twilio's console makes by default, and
    /// numberd needs no other — may not read: a valid key was refused as if it were wrong, and never taken.
    func checkCredentials(
        _ candidate: TwilioCredentials, operation: String = "check new credentials"
    ) async throws(ProviderError) {
        let url = Self.withQuery(
            "\(configuration.endpoints.api)/2010-04-01/Accounts/\(candidate.accountSid)/IncomingPhoneNumbers.json",
            [("PageSize", "1")])
        let answer = try await performOnAccountList(
            TwilioTransport.Call(method: .get, url: url, form: nil, operation: operation, credentials: candidate))
        guard TwilioResources.decode(TwilioResources.IncomingPage.self, from: answer.response.body) != nil else {
            throw ProviderError(.unavailable, message: "\(operation): Twilio's answer is not the expected page")
        }
    }
}
