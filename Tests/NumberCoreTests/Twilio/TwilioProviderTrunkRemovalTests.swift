import Foundation
import Testing

@testable import NumberCore
@testable import TwilioSimulator

/// A review: removing a number from its trunk put the `trunk_sid` of Twilio's answer straight into the DELETE's path
/// (`/v1/Trunks/{TK}/PhoneNumbers/{PN}`), where every other SID the adapter sends is checked first.
@Suite("TwilioProvider checks the trunk SID Twilio answers before deleting through it")
struct TwilioProviderTrunkRemovalTests {
    @Test("a number whose answer names a malformed trunk SID is not removed from it: refused, no DELETE sent")
    func malformedTrunkSidIsRefused() async throws {
        try await withTwilio { twilio in
            let trunkSid = try await twilio.createTrunk("pbx")
            let phoneNumber = try await TwilioProviderNumbersTests.candidate(twilio)
            let bought = try await twilio.provider.buy(phoneNumber: phoneNumber, trunkSid: trunkSid)
            // Twilio's answer for the number now names a trunk SID that is none.
            let changed: Bool = twilio.engine.withState { state in
                guard var record = state.ownedNumber(phoneNumber: phoneNumber) else { return false }
                record.fields["trunk_sid"] = "TK../x"
                state.updateOwned(record)
                return true
            }
            try #require(changed)
            twilio.engine.clearRequestLog()
            let error = await expectProviderError(.unavailable) {
                try await twilio.provider.setTrunk(sid: bought.sid, trunkSid: nil)
            }
            #expect(error?.message.contains("malformed trunk SID") == true, "\(String(describing: error))")
            // Only the fetch of the number went out.
            #expect(twilio.engine.requestLog.map(\.method) == ["GET"], "\(twilio.engine.requestLog)")
            #expect(twilio.requests(.fetchNumber).count == 1)
        }
    }
}
