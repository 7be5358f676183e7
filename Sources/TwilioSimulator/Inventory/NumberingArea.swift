/// A block of the numbering plan the simulator sells from: a prefix plus where it is.
public struct NumberingArea: Sendable, Hashable {
    /// ISO country code.
    public var isoCountry: String
    /// Number type sold from this block.
    public var type: NumberType
    /// The E.164 digits every number in the block starts with (country code included), e.g. `1415`.
    public var prefix: String
    /// How many digits follow the prefix.
    public var subscriberDigits: Int
    /// NANP area code (US/CA), used by the `AreaCode` filter.
    public var areaCode: String?
    /// City.
    public var locality: String?
    /// State/province code.
    public var region: String?
    /// LATA (US only).
    public var lata: String?
    /// Rate center (US/CA local only).
    public var rateCenter: String?
    /// Postal codes numbers in this block are spread over.
    public var postalCodes: [String]
    /// Latitude of the locality (degrees).
    public var latitude: Double?
    /// Longitude of the locality (degrees).
    public var longitude: Double?
    /// Address requirement Twilio attaches to numbers of this block.
    public var addressRequirements: String

    /// True for the North American Numbering Plan (+1): friendly names like `(415) 555-0123`.
    public var isNANP: Bool { prefix.hasPrefix("1") }
}
