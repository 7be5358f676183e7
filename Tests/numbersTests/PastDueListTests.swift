import Foundation
import NumberAPI
import NumberServer
import Testing

/// `numbers show` and `numbers list` with a past-due number (an operator's walk: nothing said when numberd would
/// release it): `show` prints when its grace period ends and what happens then, `list` how many on the page are past
/// due and the first such end; a number not past due shows no such row. The built `numbers` runs as a process against
/// a stub server.
@Suite("numbers list and show: a past-due number")
struct PastDueListTests {
    static let graceEnds = Date(timeIntervalSince1970: 1_770_508_860)  // 2026-02-08T00:01:00Z

    static func number(_ id: String, _ status: NumberStatus, graceEndsAt: Date? = nil) -> PhoneNumber {
        PhoneNumber(
            id: id, phoneNumber: id == "NUM_1" ? "+14155550100" : "+14155550101", status: status,
            pricing: Pricing(monthlyFee: 133, currency: "USD"), billingCycle: .monthly,
            nextBillingDate: Date(timeIntervalSince1970: 1_769_904_000), graceEndsAt: graceEndsAt)
    }

    static var router: RPCRouter {
        let numbers = [
            number("NUM_1", .pastDue, graceEndsAt: graceEnds.addingTimeInterval(86_400)),
            number("NUM_2", .active), number("NUM_3", .pastDue, graceEndsAt: graceEnds),
        ]
        var router = RPCRouter()
        router.register(NumbersMethods.listNumbers) { _, _ in
            ListNumbersResponse(numbers: numbers, total: 3, monthlyCost: 399, currency: "USD")
        }
        router.register(NumbersMethods.getNumber) { request, _ in
            GetNumberResponse(number: numbers.first { $0.id == request.numberId } ?? numbers[0])
        }
        return router
    }

    @Test("show prints when a past-due number's grace period ends; an active one has no such row")
    func show() async throws {
        try await withStubServer(router: Self.router) { server in
            let connection = UnknownOutcomeTests.connection(server)
            let run = try await runNumbers(["show", "NUM_3"] + connection)
            #expect(run.status == 0, "\(run)")
            #expect(
                run.stdout.contains(
                    "grace ends    2026-02-08T00:01:00Z: the next billing run after it releases the number, refunding "
                        + "nothing, unless the account's funds renew it first"), "\(run.stdout)")
            let active = try await runNumbers(["show", "NUM_2"] + connection)
            #expect(active.status == 0 && !active.stdout.contains("grace ends"), "\(active)")
        }
    }

    @Test("list says how many on the page are past due and when the first grace period ends")
    func list() async throws {
        try await withStubServer(router: Self.router) { server in
            let run = try await runNumbers(["list"] + UnknownOutcomeTests.connection(server))
            #expect(run.status == 0, "\(run)")
            #expect(
                run.stdout.contains(
                    "2 past due on this page: each released, refunding nothing, when its grace period ends")
                    && run.stdout.contains("the first 2026-02-08T00:01:00Z"), "\(run.stdout)")
        }
    }
}
