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

    /// Checks `candidate` with one cheap authenticated request (`GET /2010-04-01/Accounts/{AccountSid}.json`) and,
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

    /// `GET /2010-04-01/Accounts/{AccountSid}.json` with `candidate`: returns when Twilio answers it with the account.
    func checkCredentials(_ candidate: TwilioCredentials) async throws(ProviderError) {
        let operation = "check new credentials"
        let answer = try await transport.perform(
            TwilioTransport.Call(
                method: .get,
                url: "\(configuration.endpoints.api)/2010-04-01/Accounts/\(candidate.accountSid).json",
                form: nil, operation: operation, credentials: candidate))
        guard let account = TwilioResources.decode(TwilioResources.Account.self, from: answer.response.body),
            account.sid == candidate.accountSid
        else {
            throw ProviderError(.unavailable, message: "\(operation): Twilio's answer is not the expected account")
        }
    }
}
