/// The Twilio operations the simulator serves; fault rules and the request log are keyed by these.
public enum Endpoint: String, Sendable, CaseIterable, Hashable {
    /// `GET /2010-04-01/Accounts/{AccountSid}.json`
    case fetchAccount
    /// `GET …/AvailablePhoneNumbers.json`
    case availableCountries
    /// `GET …/AvailablePhoneNumbers/{Country}.json`
    case availableCountry
    /// `GET …/AvailablePhoneNumbers/{Country}/{Type}.json`
    case searchNumbers
    /// `POST …/IncomingPhoneNumbers[/{Type}].json`
    case buyNumber
    /// `GET …/IncomingPhoneNumbers[/{Type}].json`
    case listNumbers
    /// `GET …/IncomingPhoneNumbers/{Sid}.json`
    case fetchNumber
    /// `POST …/IncomingPhoneNumbers/{Sid}.json`
    case updateNumber
    /// `DELETE …/IncomingPhoneNumbers/{Sid}.json`
    case releaseNumber
    /// `GET /v1/PhoneNumbers/Countries`
    case pricingCountries
    /// `GET /v1/PhoneNumbers/Countries/{Iso}`
    case pricingCountry
    /// `GET /v1/Trunks`
    case listTrunks
    /// `POST /v1/Trunks`
    case createTrunk
    /// `GET /v1/Trunks/{Sid}`
    case fetchTrunk
    /// `POST /v1/Trunks/{Sid}`
    case updateTrunk
    /// `DELETE /v1/Trunks/{Sid}`
    case deleteTrunk
    /// `POST /v1/Trunks/{Sid}/PhoneNumbers`
    case addTrunkNumber
    /// `GET /v1/Trunks/{Sid}/PhoneNumbers`
    case listTrunkNumbers
    /// `GET /v1/Trunks/{Sid}/PhoneNumbers/{PN}`
    case fetchTrunkNumber
    /// `DELETE /v1/Trunks/{Sid}/PhoneNumbers/{PN}`
    case removeTrunkNumber
    /// `POST /v1/Trunks/{Sid}/OriginationUrls`
    case createOriginationUrl
    /// `GET /v1/Trunks/{Sid}/OriginationUrls`
    case listOriginationUrls
    /// `GET /v1/Trunks/{Sid}/OriginationUrls/{OU}`
    case fetchOriginationUrl
    /// A path the simulator does not serve (answered 404).
    case unknown
}
