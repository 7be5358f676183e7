import Testing

@testable import TwilioSimulator

@Suite struct VirtualInventoryTests {
    let inventory = VirtualInventory(seed: 7, densityPerMille: 50)

    private func first(_ count: Int, areas: [NumberingArea], pattern: ContainsPattern? = nil) -> [AvailableNumber] {
        var found: [AvailableNumber] = []
        inventory.enumerate(areas: areas, pattern: pattern, scanMax: 1_000_000) { number in
            found.append(number)
            return found.count < count
        }
        return found
    }

    @Test func sameSeedSameNumbersOtherSeedOthers() {
        let areas = CountryCatalog.unitedStates.areas
        let a = first(20, areas: areas).map(\.phoneNumber)
        let b = first(20, areas: areas).map(\.phoneNumber)
        let c = VirtualInventory(seed: 8, densityPerMille: 50)
        var other: [String] = []
        c.enumerate(areas: areas, pattern: nil, scanMax: 100_000) { number in
            other.append(number.phoneNumber)
            return other.count < 20
        }
        #expect(a == b)
        #expect(a != other)
    }

    @Test func everyEnumeratedNumberLooksUpIdentically() {
        for number in first(50, areas: CountryCatalog.all.flatMap(\.areas)) {
            #expect(inventory.lookup(number.phoneNumber) == number)
        }
    }

    @Test func densityIsRoughlyTheConfiguredShare() {
        let area = CountryCatalog.unitedStates.areas[0]
        var held = 0
        let scanned = inventory.enumerate(areas: [area], pattern: nil, scanMax: 20_000) { _ in
            held += 1
            return true
        }
        #expect(scanned == 20_000)
        // Valid exchanges are about 78 % of the block, 5 % of those are held: about 780 of 20 000.
        #expect((500...1100).contains(held))
    }

    @Test func sharedTollFreeCodesSplitBetweenUSAndCanada() {
        let us = first(100, areas: CountryCatalog.unitedStates.areas.filter { $0.type == .tollFree })
        let ca = first(100, areas: CountryCatalog.canada.areas.filter { $0.type == .tollFree })
        #expect(Set(us.map(\.phoneNumber)).isDisjoint(with: ca.map(\.phoneNumber)))
        for number in ca { #expect(inventory.lookup(number.phoneNumber)?.isoCountry == "CA") }
    }

    @Test func nanpNumbersAreDialable() {
        for number in first(200, areas: CountryCatalog.unitedStates.areas + CountryCatalog.canada.areas) {
            let digits = Array(number.phoneNumber.utf8.dropFirst(5))
            #expect(digits[0] >= UInt8(ascii: "2"))
            #expect(!(digits[1] == UInt8(ascii: "1") && digits[2] == UInt8(ascii: "1")))
            #expect(number.phoneNumber.count == 12)
            #expect(number.friendlyName.hasPrefix("("))
        }
    }

    @Test func londonNumbersStartWith3Or7Or8() {
        let london = CountryCatalog.unitedKingdom.areas.filter { $0.prefix == "4420" }
        for number in first(50, areas: london) {
            #expect(["3", "7", "8"].contains(number.phoneNumber.dropFirst(5).first))
            #expect(number.phoneNumber.count == 13)
            #expect(number.friendlyName == number.phoneNumber)
            #expect(number.locality == "London")
        }
    }

    @Test func patternEnumerationOnlyYieldsMatches() throws {
        let pattern = try ContainsPattern("STORM")
        let found = first(30, areas: CountryCatalog.unitedStates.areas, pattern: pattern)
        #expect(found.count == 30)
        for number in found { #expect(pattern.matches(number.phoneNumber)) }
    }

    @Test func lookupRefusesForeignAndMalformedNumbers() {
        #expect(inventory.lookup("+4915112345678") == nil)
        #expect(inventory.lookup("14155550123") == nil)
        #expect(inventory.lookup("+1415555012") == nil)
        #expect(inventory.lookup("+1415abc0123") == nil)
        // 555 exchanges are fictional and never held.
        #expect(inventory.lookup("+14155550123") == nil)
    }

    @Test func capabilitiesVary() {
        let found = first(200, areas: CountryCatalog.unitedStates.areas.filter { $0.type == .local })
        #expect(Set(found.map(\.capabilities)).count > 3)
        #expect(found.contains { $0.beta })
        #expect(found.contains { !$0.beta })
    }
}
