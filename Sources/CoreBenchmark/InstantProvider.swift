import Foundation
import NumberCore
import Synchronization

/// A provider that offers and sells any well-formed number at once and remembers what it sold, so the benchmark measures
/// the core and the store, not a carrier. Selling a number twice throws `.numberUnavailable`, as a carrier would.
final class InstantProvider: NumberProvider {
    private struct Inner {
        var owned: [String: ProvisionedNumber] = [:]
        var nextSid = 1
    }

    private let inner = Mutex(Inner())
    private let created = Date(timeIntervalSince1970: 1_736_000_000)

    /// How many numbers it sold.
    var soldCount: Int { inner.withLock { $0.owned.count } }

    /// Offers a number looked up by its whole E.164 form (`contains: "+…"`, how a purchase checks a number it has
    /// not seen in a search) as a local number of the query's country, unless sold; any other search finds nothing.
    func search(_ query: ProviderSearchQuery) async throws -> [AvailableNumber] {
        guard let phone = query.contains, phone.hasPrefix("+"), query.type == .local,
            inner.withLock({ $0.owned[phone] == nil })
        else { return [] }
        return [
            AvailableNumber(
                phoneNumber: phone, friendlyName: phone, country: query.country, type: .local,
                capabilities: NumberCapabilities(voice: true, sms: true))
        ]
    }

    func price(country: String, type: NumberType) async throws -> ProviderPrice {
        ProviderPrice(country: country, type: type, monthlyCostMicros: 1_150_000, currency: "USD")
    }

    func buy(phoneNumber: String, trunkSid: String?) async throws -> ProvisionedNumber {
        try inner.withLock { inner in
            guard inner.owned[phoneNumber] == nil else {
                throw ProviderError(.numberUnavailable, providerCode: 21422, message: "\(phoneNumber) is sold")
            }
            let sid = "PN" + MemoryRun.padded(String(inner.nextSid, radix: 16), width: 32)
            inner.nextSid += 1
            let number = ProvisionedNumber(
                sid: sid, phoneNumber: phoneNumber, friendlyName: phoneNumber, trunkSid: trunkSid,
                capabilities: NumberCapabilities(voice: true, sms: true), dateCreated: created)
            inner.owned[phoneNumber] = number
            return number
        }
    }

    func release(sid: String) async throws {
        try inner.withLock { inner in
            guard let phone = inner.owned.first(where: { $0.value.sid == sid })?.key else {
                throw ProviderError(.notFound, providerCode: 20404, message: "no number \(sid)")
            }
            inner.owned.removeValue(forKey: phone)
        }
    }

    func setTrunk(sid: String, trunkSid: String?) async throws {}

    func lookUp(phoneNumber: String) async throws -> ProvisionedNumber? {
        inner.withLock { $0.owned[phoneNumber] }
    }
}
