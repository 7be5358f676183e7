import NumberCore
import TwilioSimulator

extension TwilioConfiguration.Endpoints {
    /// Twilio's three APIs at a Twilio simulator whose base URL is `base`: each under the prefix it is served at
    /// there (`base/api`, `base/pricing`, `base/trunking`), standing for its own host at Twilio, so a call sent to
    /// the wrong API's base URL is refused (404) as at Twilio. What `twilio-base-url` means.
    public static func simulator(at base: String) -> Self {
        Self(
            api: TwilioAPI.api.url(atSimulator: base), pricing: TwilioAPI.pricing.url(atSimulator: base),
            trunking: TwilioAPI.trunking.url(atSimulator: base))
    }
}
