import Foundation
import Testing

@testable import TwilioSimulator

/// The `taken` fault: another Twilio account buys the number a purchase asks for just before it (twilio-api.md §8.1).
/// The purchase answers 400/21422 and the number is gone from searches; the injected `error:21422:400` leaves it for
/// sale, which Twilio never does once someone bought it.
@Suite struct SoldElsewhereFaultTests {
    @Test func takenBeforeThePurchase() throws {
        let engine = try SimulatorEngine(configuration: .defaults)
        let api = engine.api
        let numbers = engine.availableNumbers(country: "US", type: .local, limit: 2).map(\.phoneNumber)
        engine.addFault(try FaultRule.parse("buyNumber:taken::1:1"))
        let taken = engine.send("POST", api + "/IncomingPhoneNumbers.json", form: [("PhoneNumber", numbers[0])])
        #expect(taken.status == 400 && taken.json["code"] as? Int == 21422)
        #expect(!engine.isAvailable(numbers[0]) && engine.ownedNumbers.isEmpty)
        #expect(engine.availableNumbers(country: "US", type: .local, limit: 1).first?.phoneNumber == numbers[1])
        let again = engine.send("POST", api + "/IncomingPhoneNumbers.json", form: [("PhoneNumber", numbers[0])])
        #expect(again.status == 400 && again.json["code"] as? Int == 21422, "gone for good, not a passing refusal")
        let other = engine.send("POST", api + "/IncomingPhoneNumbers.json", form: [("PhoneNumber", numbers[1])])
        #expect(other.status == 201, "the rule fired once")
        #expect(try FaultRule.parse("buyNumber:taken").kind == .soldElsewhere)
    }
}
