import Testing

@testable import TwilioSimulator

@Suite struct FaultInjectorTests {
    @Test func latenciesAddUpAndFirstTerminalWins() {
        var injector = FaultInjector(seed: 1)
        injector.add(FaultRule(endpoint: nil, kind: .latency(milliseconds: 100)))
        injector.add(FaultRule(endpoint: .buyNumber, kind: .latency(milliseconds: 50)))
        injector.add(FaultRule(endpoint: .buyNumber, kind: .connectionReset))
        injector.add(FaultRule(endpoint: .buyNumber, kind: .responseLost))
        #expect(injector.plan(for: .buyNumber) == FaultPlan(delayMilliseconds: 150, fault: .connectionReset))
        #expect(injector.plan(for: .searchNumbers) == FaultPlan(delayMilliseconds: 100, fault: nil))
    }

    @Test func timesLimitsFiringsAndRemovesSpentRules() {
        var injector = FaultInjector(seed: 1)
        injector.add(FaultRule(endpoint: .buyNumber, kind: .responseLost, times: 2))
        #expect(injector.plan(for: .buyNumber).fault == .responseLost)
        #expect(injector.plan(for: .buyNumber).fault == .responseLost)
        #expect(injector.plan(for: .buyNumber).fault == nil)
        #expect(injector.rules.isEmpty)
    }

    @Test func probabilityZeroNeverAndOneAlways() {
        var injector = FaultInjector(seed: 3)
        injector.add(FaultRule(endpoint: nil, kind: .connectionReset, probability: 0))
        for _ in 0..<100 { #expect(injector.plan(for: .listNumbers).fault == nil) }
        injector.clear()
        injector.add(FaultRule(endpoint: nil, kind: .connectionReset, probability: 1))
        for _ in 0..<100 { #expect(injector.plan(for: .listNumbers).fault == .connectionReset) }
    }

    @Test func rateIsNearProbability() {
        var injector = FaultInjector(seed: 9)
        injector.add(FaultRule(endpoint: nil, kind: .connectionReset, probability: 0.2))
        let fired = (0..<10_000).filter { _ in injector.plan(for: .buyNumber).fault != nil }.count
        #expect((1_800...2_200).contains(fired))
    }

    @Test func configuredFaultsAreActiveFromTheFirstRequest() {
        var configuration = SimulatorConfiguration.defaults
        configuration.faults = [FaultRule(endpoint: .buyNumber, kind: .responseLost, times: 1)]
        var state = SimulatorState(configuration: configuration)
        #expect(state.faults.plan(for: .buyNumber).fault == .responseLost)
        #expect(state.faults.plan(for: .buyNumber).fault == nil)
    }

    @Test func clearByEndpoint() {
        var injector = FaultInjector(seed: 1)
        injector.add(FaultRule(endpoint: .buyNumber, kind: .connectionReset))
        injector.add(FaultRule(endpoint: .releaseNumber, kind: .connectionReset))
        injector.clear(endpoint: .buyNumber)
        #expect(injector.rules.map(\.endpoint) == [.releaseNumber])
    }

    @Test(arguments: [
        ("buyNumber:lost", FaultRule(endpoint: .buyNumber, kind: .responseLost)),
        ("any:latency:200:0.5", FaultRule(endpoint: nil, kind: .latency(milliseconds: 200), probability: 0.5)),
        (
            "buyNumber:429-after:1:1:3",
            FaultRule(endpoint: .buyNumber, kind: .tooManyRequests(retryAfterSeconds: 1), times: 3)
        ),
        (
            "buyNumber:429:1:3",
            FaultRule(endpoint: .buyNumber, kind: .tooManyRequests(retryAfterSeconds: nil), times: 3)
        ),
        ("releaseNumber:reset::1:1", FaultRule(endpoint: .releaseNumber, kind: .connectionReset, times: 1)),
        ("searchNumbers:500-after", FaultRule(endpoint: .searchNumbers, kind: .serverErrorAfterActing(.internalError))),
        (
            "searchNumbers:503-before",
            FaultRule(endpoint: .searchNumbers, kind: .serverErrorBeforeActing(.serviceUnavailable))
        ),
        ("listNumbers:stall:5000", FaultRule(endpoint: .listNumbers, kind: .stall(milliseconds: 5000))),
    ])
    func parsesSpecs(spec: String, expected: FaultRule) throws {
        #expect(try FaultRule.parse(spec) == expected)
    }

    @Test func parsesErrorSpec() throws {
        let rule = try FaultRule.parse("buyNumber:error:21422:400:0.25")
        guard case .error(let error) = rule.kind else {
            Issue.record("expected an error kind")
            return
        }
        #expect(error.code == 21422 && error.status == 400)
        #expect(rule.probability == 0.25)
    }

    @Test(arguments: [
        "buyNumber", "nowhere:lost", "buyNumber:explode", "buyNumber:latency", "buyNumber:latency:x",
        "buyNumber:error:21422:200", "buyNumber:lost:2", "buyNumber:lost::1:0", "buyNumber:lost::1:1:9",
    ])
    func refusesBadSpecs(spec: String) {
        #expect(throws: FaultRule.ParseError.self) { try FaultRule.parse(spec) }
    }
}
