import Testing

@testable import NumberCore

@Suite("The core's log line budget")
struct LogBudgetTests {
    @Test("at most linesMax lines of a key a window; a later window's first line reports those held back")
    func linesPerKeyAndWindow() {
        let budget = LogBudget(linesMax: 3, window: .seconds(10))
        let start = ContinuousClock.now
        let first = (0..<5).map { _ in budget.take("A", now: start + .seconds(1)) }
        #expect(first == [.log(heldBefore: 0), .log(heldBefore: 0), .log(heldBefore: 0), .held, .held])
        #expect(budget.take("B", now: start + .seconds(2)) == .log(heldBefore: 0), "another key has its own lines")
        #expect(budget.take("A", now: start + .seconds(10)) == .held, "the window runs from its first line")
        #expect(budget.take("A", now: start + .seconds(11)) == .log(heldBefore: 3))
        #expect(budget.take("A", now: start + .seconds(12)) == .log(heldBefore: 0))
        // The one-line form (connections refused at a limit): one line a window, saying how many.
        var refusals = ThrottledCount()
        #expect(refusals.note(now: start, interval: .seconds(10)) == 1)
        #expect(refusals.note(now: start + .seconds(5), interval: .seconds(10)) == nil)
        #expect(refusals.note(now: start + .seconds(6), interval: .seconds(10)) == nil)
        #expect(refusals.note(now: start + .seconds(10), interval: .seconds(10)) == 3)
    }
}
