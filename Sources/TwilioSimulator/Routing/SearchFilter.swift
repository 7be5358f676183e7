import Foundation

/// The filters of one AvailablePhoneNumbers search, parsed and validated.
struct SearchFilter {
    var areaCode: String?
    var contains: ContainsPattern?
    var voice = false
    var sms = false
    var mms = false
    var fax = false
    var excludeAll = false
    var excludeLocal = false
    var excludeForeign = false
    var includeBeta = true
    var region: String?
    var locality: String?
    /// `InPostalCode`: one code, or those of a phone number's numbering area, in lower case (compared so).
    var postalCodes: Set<String>?
    var lata: String?
    var rateCenter: String?
    var near: (latitude: Double, longitude: Double, miles: Double)?

    /// Largest `Distance` accepted, in miles (Twilio's).
    static let distanceMilesMax = 500
    /// `Distance` when none is given (Twilio's).
    static let distanceMilesDefault = 25

    /// Parses the filters; `locate` gives the numbering area of a number for `NearNumber`.
    init(
        _ params: FormParameters, isoCountry: String, type: NumberType,
        locate: (String) -> NumberingArea? = { _ in nil }
    ) throws(TwilioError) {
        if let code = params["AreaCode"] {
            guard code.count == 3, code.allSatisfy(\.isNumber), let first = code.first, first != "0", first != "1"
            else { throw TwilioError(status: 400, code: 21451, message: "Invalid area code \(code)") }
            areaCode = code
        }
        if let text = params["Contains"] { contains = try ContainsPattern(text) }
        voice = try Parameters.bool(params, "VoiceEnabled") ?? false
        sms = try Parameters.bool(params, "SmsEnabled") ?? false
        mms = try Parameters.bool(params, "MmsEnabled") ?? false
        fax = try Parameters.bool(params, "FaxEnabled") ?? false
        excludeAll = try Parameters.bool(params, "ExcludeAllAddressRequired") ?? false
        excludeLocal = try Parameters.bool(params, "ExcludeLocalAddressRequired") ?? false
        excludeForeign = try Parameters.bool(params, "ExcludeForeignAddressRequired") ?? false
        includeBeta = try Parameters.bool(params, "Beta") ?? true
        // Each place filter takes a place, or a phone number: "given a phone number, search within the same region
        // (locality, postal code, LATA, rate center) as that number" (Twilio's parameter descriptions). A number is
        // placed by its numbering area, as `NearNumber` is; one no area knows matches nothing.
        func place(_ name: String, _ field: (NumberingArea) -> String?) -> String? {
            guard let text = params[name] else { return nil }
            guard text.hasPrefix("+") else { return text }
            return locate(text).flatMap(field) ?? text
        }
        region = place("InRegion", \.region)
        locality = place("InLocality", \.locality)
        lata = place("InLata", \.lata)
        rateCenter = place("InRateCenter", \.rateCenter)
        if let text = params["InPostalCode"] {
            let area = text.hasPrefix("+") ? locate(text) : nil
            let codes = area.map(\.postalCodes).flatMap { $0.isEmpty ? nil : $0 } ?? [text]
            postalCodes = Set(codes.map { $0.lowercased() })
        }
        if rateCenter != nil && lata == nil {
            throw .invalidParameter("InRateCenter", "requires InLata")
        }
        try parseNear(params, locate: locate)
    }

    /// `NearNumber` is placed where its numbering area is, as Twilio places any US or CA number, not only one the
    /// carrier holds (a customer's own number, say); it is a 400 only when no area with coordinates knows its prefix.
    private mutating func parseNear(
        _ params: FormParameters, locate: (String) -> NumberingArea?
    ) throws(TwilioError) {
        let distance = try Parameters.int(params, "Distance") ?? SearchFilter.distanceMilesDefault
        guard distance <= SearchFilter.distanceMilesMax else {
            throw .invalidParameter("Distance", "must be at most \(SearchFilter.distanceMilesMax)")
        }
        if let number = params["NearNumber"] {
            guard let area = locate(number), let lat = area.latitude, let lon = area.longitude else {
                throw .invalidParameter("NearNumber", "no location known for '\(number)'")
            }
            near = (lat, lon, Double(distance))
            return
        }
        guard let text = params["NearLatLong"] else { return }
        let parts = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let lat = parts[0], let lon = parts[1], abs(lat) <= 90, abs(lon) <= 180 else {
            throw .invalidParameter("NearLatLong", "'\(text)' is not 'latitude,longitude'")
        }
        near = (lat, lon, Double(distance))
    }

    /// True when a numbering area can hold matches (area code, region, locality, LATA, rate center, address
    /// requirement, capabilities). Every number of an area has the area's address requirement, so an area whose
    /// requirement the `Exclude*AddressRequired` filters refuse holds no match: dropped here, its candidates are never
    /// examined (a GB local search with `ExcludeAllAddressRequired=true`, which numberd sends, would scan
    /// `searchScanMax` for none). So is an area none of whose numbers can have a capability asked for (US toll-free
    /// with `MmsEnabled=true`, GB toll-free with `SmsEnabled=true`).
    func matchesArea(_ area: NumberingArea) -> Bool {
        if excludesAddress(area.addressRequirements) { return false }
        if lacksCapability(NumberAttributes.possibleCapabilities(for: area)) { return false }
        if let areaCode, area.areaCode != areaCode { return false }
        if let region, area.region?.lowercased() != region.lowercased() { return false }
        if let locality, area.locality?.lowercased() != locality.lowercased() { return false }
        if let lata, area.lata != lata { return false }
        if let rateCenter, area.rateCenter?.lowercased() != rateCenter.lowercased() { return false }
        if let postalCodes, !area.postalCodes.contains(where: { postalCodes.contains($0.lowercased()) }) {
            return false
        }
        return true
    }

    /// True when `n` passes every filter given.
    func matches(_ n: AvailableNumber) -> Bool {
        if let areaCode, !n.phoneNumber.hasPrefix("+1" + areaCode) { return false }
        if let contains, !contains.matches(n.phoneNumber) { return false }
        if lacksCapability(n.capabilities) { return false }
        if excludesAddress(n.addressRequirements) { return false }
        if !includeBeta && n.beta { return false }
        return matchesPlace(n)
    }

    /// True when `caps` lacks a capability asked for by `VoiceEnabled`, `SmsEnabled`, `MmsEnabled` or `FaxEnabled`.
    private func lacksCapability(_ caps: Capabilities) -> Bool {
        (voice && !caps.voice) || (sms && !caps.sms) || (mms && !caps.mms) || (fax && !caps.fax)
    }

    /// True when the `Exclude*AddressRequired` filters refuse numbers with this `address_requirements` value.
    private func excludesAddress(_ requirement: String) -> Bool {
        (excludeAll && requirement != "none") || (excludeLocal && requirement == "local")
            || (excludeForeign && requirement == "foreign")
    }

    private func matchesPlace(_ n: AvailableNumber) -> Bool {
        if let region, n.region?.lowercased() != region.lowercased() { return false }
        if let locality, n.locality?.lowercased() != locality.lowercased() { return false }
        if let postalCodes, !(n.postalCode.map { postalCodes.contains($0.lowercased()) } ?? false) { return false }
        if let lata, n.lata != lata { return false }
        if let rateCenter, n.rateCenter?.lowercased() != rateCenter.lowercased() { return false }
        if let near {
            guard let lat = n.latitude.flatMap(Double.init), let lon = n.longitude.flatMap(Double.init) else {
                return false
            }
            return SearchFilter.miles(near.latitude, near.longitude, lat, lon) <= near.miles
        }
        return true
    }

    /// Great-circle distance in miles (haversine).
    static func miles(_ lat1: Double, _ lon1: Double, _ lat2: Double, _ lon2: Double) -> Double {
        let radians = Double.pi / 180
        let dLat = (lat2 - lat1) * radians
        let dLon = (lon2 - lon1) * radians
        let a =
            sin(dLat / 2) * sin(dLat / 2)
            + cos(lat1 * radians) * cos(lat2 * radians) * sin(dLon / 2) * sin(dLon / 2)
        return 3958.8 * 2 * atan2(a.squareRoot(), (1 - a).squareRoot())
    }
}
