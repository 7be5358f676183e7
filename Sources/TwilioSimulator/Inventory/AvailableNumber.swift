/// One number in the simulated carrier inventory, with everything a search result shows.
public struct AvailableNumber: Sendable, Hashable, Codable {
    /// E.164, e.g. `+14155550123`.
    public var phoneNumber: String
    /// The formatted number (`(415) 555-0123` in NANP, E.164 elsewhere, as Twilio shows).
    public var friendlyName: String
    /// ISO country code.
    public var isoCountry: String
    /// Local, toll-free or mobile.
    public var type: NumberType
    /// LATA (US/CA local only).
    public var lata: String?
    /// City.
    public var locality: String?
    /// Rate center, upper case (US/CA local only).
    public var rateCenter: String?
    /// Latitude with six decimals, as a string like Twilio's live API.
    public var latitude: String?
    /// Longitude with six decimals.
    public var longitude: String?
    /// State / province code (US/CA), or a region name.
    public var region: String?
    /// Postal code.
    public var postalCode: String?
    /// `none`, `any`, `local` or `foreign`.
    public var addressRequirements: String
    /// New to Twilio.
    public var beta: Bool
    /// What the number can do.
    public var capabilities: Capabilities

    /// The digits of `phoneNumber` without `+`.
    public var digits: Substring { phoneNumber.dropFirst() }
}
