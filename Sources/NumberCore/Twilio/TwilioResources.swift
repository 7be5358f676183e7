import Foundation

/// JSON bodies of the Twilio endpoints the adapter uses, decoded leniently where Twilio is known to vary
/// (capability key casing, nullable strings) and strictly where a wrong value would cost money (SIDs, numbers).
enum TwilioResources {
    /// `GET …/AvailablePhoneNumbers/{CC}/{Type}.json`.
    struct AvailablePage: Decodable {
        let availablePhoneNumbers: [Available]
        enum CodingKeys: String, CodingKey { case availablePhoneNumbers = "available_phone_numbers" }
    }

    /// One available number. `latitude`/`longitude` (strings live, numbers in the spec) are not decoded. The spec
    /// marks `phone_number` nullable: an entry without one is left out of the results (``TwilioProvider/offered``),
    /// not a failure of the whole page.
    struct Available: Decodable {
        let phoneNumber: String?
        let friendlyName: String?
        let locality: String?
        let region: String?
        let postalCode: String?
        let isoCountry: String?
        let capabilities: Capabilities?
        /// `none`, `any`, `local` or `foreign`: which Address a purchase needs.
        let addressRequirements: String?
        enum CodingKeys: String, CodingKey {
            case phoneNumber = "phone_number", friendlyName = "friendly_name", locality, region
            case postalCode = "postal_code", isoCountry = "iso_country", capabilities
            case addressRequirements = "address_requirements"
        }
    }

    /// An IncomingPhoneNumber (2010 API), as returned by create, fetch, update and list.
    struct Incoming: Decodable {
        let sid: String
        let phoneNumber: String
        let friendlyName: String?
        let trunkSid: String?
        let capabilities: Capabilities?
        let dateCreated: String?
        enum CodingKeys: String, CodingKey {
            case sid, phoneNumber = "phone_number", friendlyName = "friendly_name", trunkSid = "trunk_sid"
            case capabilities, dateCreated = "date_created"
        }
    }

    /// The 2010 list envelope of IncomingPhoneNumbers.
    struct IncomingPage: Decodable {
        let incomingPhoneNumbers: [Incoming]
        let nextPageUri: String?
        enum CodingKeys: String, CodingKey {
            case incomingPhoneNumbers = "incoming_phone_numbers", nextPageUri = "next_page_uri"
        }
    }

    /// `GET /v1/PhoneNumbers/Countries/{ISO}` (Pricing v1). Twilio's OpenAPI marks every field nullable.
    struct PricingCountry: Decodable {
        let isoCountry: String?
        /// Null or absent: the country lists no prices (the same as an empty list).
        let phoneNumberPrices: [Price]?
        let priceUnit: String?
        enum CodingKeys: String, CodingKey {
            case isoCountry = "iso_country", phoneNumberPrices = "phone_number_prices", priceUnit = "price_unit"
        }
    }

    /// One number type's monthly price. An entry without `number_type` (the spec does not require it) prices nothing
    /// and is skipped.
    struct Price: Decodable {
        let numberType: String?
        let basePrice: DecimalText?
        let currentPrice: DecimalText?
        enum CodingKeys: String, CodingKey {
            case numberType = "number_type", basePrice = "base_price", currentPrice = "current_price"
        }
    }

    /// A price's decimal text. Twilio sends decimal strings (`"1.15"`), but its OpenAPI types prices as `number`
    /// (with `overrideType: string`), so a JSON number is read too — by its digits, exactly (Foundation decodes a
    /// `Decimal` from the number's text, never through a `Double`): `1.15` is `"1.15"`, and one that is no exact
    /// amount in micros (`1.0000001`, negative) is refused where every price is checked (``TwilioDecimal``).
    struct DecimalText: Decodable {
        let text: String

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                self.text = text
            } else {
                self.text = try container.decode(Decimal.self).description
            }
        }
    }

    /// The error body: `{"code": 21422, "message": "…", "more_info": "…", "status": 400}`.
    struct ErrorBody: Decodable {
        let code: Int?
        let message: String?
    }

    /// Capabilities with keys compared case-insensitively: search answers `SMS`/`MMS`, owned numbers `sms`/`mms`.
    struct Capabilities: Decodable {
        let flags: [String: Bool]

        /// Capabilities with these flags (lower-case keys); none for a result that has no `capabilities` object.
        init(flags: [String: Bool] = [:]) {
            self.flags = flags
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: AnyCodingKey.self)
            var flags: [String: Bool] = [:]
            for key in container.allKeys {
                // A null or non-boolean flag counts as "not capable" rather than failing the whole result.
                flags[key.stringValue.lowercased()] = (try? container.decode(Bool.self, forKey: key)) ?? false
            }
            self.flags = flags
        }

        /// A flag the answer does not have counts as "not capable".
        var value: NumberCapabilities { numberCapabilities(assuming: []) }

        /// A flag the answer does not have counts as "capable" for the capabilities in `present`, "not capable" for
        /// the others; a flag it has counts as it says.
        func numberCapabilities(assuming present: Set<Capability>) -> NumberCapabilities {
            func flag(_ key: String, _ capability: Capability) -> Bool { flags[key] ?? present.contains(capability) }
            return NumberCapabilities(
                voice: flag("voice", .voice), sms: flag("sms", .sms), mms: flag("mms", .mms), fax: flag("fax", .fax))
        }
    }

    /// Decodes `T` from a response body; `nil` if it does not parse.
    static func decode<T: Decodable>(_ type: T.Type, from body: [UInt8]) -> T? {
        try? JSONDecoder().decode(T.self, from: Data(body))
    }
}
