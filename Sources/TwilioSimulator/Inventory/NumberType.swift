/// A Twilio phone-number type, as it appears in search paths, resources and pricing.
public enum NumberType: String, Sendable, CaseIterable, Hashable, Codable {
    /// Geographic numbers (`Local.json`).
    case local
    /// Toll-free numbers (`TollFree.json`).
    case tollFree
    /// Mobile numbers (`Mobile.json`).
    case mobile

    /// How regulatory Bundle settings name the type (`GB/toll_free`): numberd's names.
    public var bundleKey: String {
        switch self {
        case .local: "local"
        case .tollFree: "toll_free"
        case .mobile: "mobile"
        }
    }

    /// The path component in AvailablePhoneNumbers / IncomingPhoneNumbers (`Local`, `TollFree`, `Mobile`).
    public var pathComponent: String {
        switch self {
        case .local: "Local"
        case .tollFree: "TollFree"
        case .mobile: "Mobile"
        }
    }

    /// The key in a country's `subresource_uris` (`local`, `toll_free`, `mobile`).
    public var subresourceKey: String {
        switch self {
        case .local: "local"
        case .tollFree: "toll_free"
        case .mobile: "mobile"
        }
    }

    /// The `type` field of an IncomingPhoneNumber (`local`, `toll-free`, `mobile`).
    public var resourceType: String {
        switch self {
        case .local: "local"
        case .tollFree: "toll-free"
        case .mobile: "mobile"
        }
    }

    /// The Pricing API's `number_type` (`local`, `toll free`, `mobile`).
    public var pricingName: String {
        switch self {
        case .local: "local"
        case .tollFree: "toll free"
        case .mobile: "mobile"
        }
    }

    /// The type for a path component, or nil.
    public init?(pathComponent: String) {
        guard let match = NumberType.allCases.first(where: { $0.pathComponent == pathComponent }) else {
            return nil
        }
        self = match
    }
}
