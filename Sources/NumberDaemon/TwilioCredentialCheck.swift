import Logging
import NumberCore
import ServiceLifecycle

/// At start, one cheap authenticated request (``TwilioProvider/checkCredentialsInUse()``) says at once whether Twilio
/// takes numberd's credentials. A wrong auth token, API key or account SID used to start without a word: the first
/// sign was a customer's search, purchase or release failing `PROVIDER_MISCONFIGURED`. The start is not refused —
/// Twilio may be out of reach for a while, and numberd serves its reads without it — but a refusal is logged at error
/// (`numberd_twilio_calls_total{outcome="authentication"}` counts it too). Then it waits for the shutdown: a service
/// that returned would end the group.
struct TwilioCredentialCheck: Service, CustomStringConvertible {
    let provider: TwilioProvider
    let logger: Logger

    /// How the service lifecycle's log lines name it.
    var description: String { "TwilioCredentialCheck" }

    func run() async throws {
        await cancelWhenGracefulShutdown { await check() }
        try? await gracefulShutdown()
    }

    /// Asks Twilio once and logs what it said.
    func check() async {
        let account = provider.credentials.accountSid
        do throws(ProviderError) {
            try await provider.checkCredentialsInUse()
            logger.info("Twilio accepts numberd's credentials", metadata: ["account_sid": "\(account)"])
        } catch  where error.cancelled {
            // A shutdown came first: nothing to say.
        } catch  where error.kind == .authentication || error.kind == .misconfigured {
            logger.error(
                Logger.Message(
                    stringLiteral: "Twilio refuses numberd's credentials: every search, purchase and release fails "
                        + "PROVIDER_MISCONFIGURED until TWILIO_ACCOUNT_SID and its auth token or API key are fixed (a "
                        + "secret given as a file or systemd credential is read again on SIGHUP)"),
                metadata: ["account_sid": "\(account)", "error": "\(error)"])
        } catch {
            logger.warning(
                "Twilio could not be asked at start whether it takes numberd's credentials",
                metadata: ["account_sid": "\(account)", "error": "\(error)"])
        }
    }
}
