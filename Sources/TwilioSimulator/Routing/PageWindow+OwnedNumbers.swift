/// Pages of the account's numbers (the lists of IncomingPhoneNumbers and of a trunk's numbers) cut straight from the
/// state's creation order.
extension PageWindow where Item == IncomingNumber {
    /// The page `init(_:sid:sequence:params:limits:)` cuts from the owned numbers `accepts` passes, in creation
    /// order, without building that list: reads run on a snapshot on numberd's event loops, up to 100 at once, and
    /// copies of every owned number took hundreds of MB a read at a million numbers. The walk starts where the page
    /// does (a `PageToken`'s anchor found by binary search) and stops at the first number past the page (which says a
    /// next page exists), plus one look back for a number before it (which says a previous one does), so a page costs
    /// O(page size) however many numbers are owned. A filter few numbers pass, the released SIDs the order still
    /// holds (``SimulatorState`` drops them in bulk) and a `Page` without a token (counted from the first number) make
    /// it walk further, allocating nothing for what it passes over.
    init(
        ownedIn state: SimulatorState, where accepts: (IncomingNumber) -> Bool, params: FormParameters,
        limits: SimulatorConfiguration.Limits
    ) throws(TwilioError) {
        pageSize = try Parameters.pageSize(params, limits: limits)
        page = try Parameters.int(params, "Page") ?? 0
        var walk = OwnedOrderWalk(state: state)
        // Where in the order the walk for the page starts, how many accepted numbers it passes over there first (a
        // `Page` without a token), and whether the list has a number before the page (nil: look back to know).
        var from = 0
        var skip = 0
        var hasEarlier: Bool?
        if let token = params["PageToken"] {
            let invalid = TwilioError(status: 400, code: 21481, message: "Invalid PageToken")
            guard token.count > 2, let anchor = state.numberSequence[String(token.dropFirst(2))] else { throw invalid }
            if token.hasPrefix("PA") {
                from = state.ownedOrderIndex(firstAbove: anchor)
            } else if token.hasPrefix("PB") {
                // The page is the `pageSize` numbers before the anchor, or the first page when there are fewer.
                let before = walk.back(from: state.ownedOrderIndex(firstAbove: anchor - 1), count: pageSize, accepts)
                from = before.index
                if before.found < pageSize { hasEarlier = false }
            } else {
                throw invalid
            }
        } else {
            let (product, overflow) = page.multipliedReportingOverflow(by: pageSize)
            skip = overflow ? .max : product
            hasEarlier = product > 0
        }
        let found = walk.forward(from: from, skipping: skip, count: pageSize + 1, accepts)
        items = Array(found.prefix(pageSize))
        start = page * pageSize
        nextToken = found.count > pageSize ? items.last.map { "PA" + $0.sid } : nil
        if let first = items.first {
            let earlier: Bool
            if let known = hasEarlier {
                earlier = known
            } else {
                earlier = walk.back(from: from, count: 1, accepts).found == 1
            }
            previousToken = earlier ? "PB" + first.sid : nil
        } else {
            previousToken = nil
        }
        visited = walk.visited
    }
}

/// A walk over the state's creation order of owned numbers that counts the entries it looks at.
private struct OwnedOrderWalk {
    let state: SimulatorState
    var visited = 0

    /// The owned numbers `accepts` passes from `index` on, the first `skip` of them passed over, at most `count`.
    mutating func forward(
        from index: Int, skipping skip: Int, count: Int, _ accepts: (IncomingNumber) -> Bool
    ) -> [IncomingNumber] {
        var found: [IncomingNumber] = []
        var skipped = 0
        var index = index
        while index < state.ownedOrderCount && found.count < count {
            visited += 1
            if let number = state.ownedNumber(atOrderIndex: index), accepts(number) {
                if skipped < skip { skipped += 1 } else { found.append(number) }
            }
            index += 1
        }
        return found
    }

    /// Looking back from just before `end`: how many owned numbers `accepts` passes (at most `count`) and where the
    /// earliest of them is (`end` when none is).
    mutating func back(
        from end: Int, count: Int, _ accepts: (IncomingNumber) -> Bool
    ) -> (index: Int, found: Int) {
        var earliest = end
        var found = 0
        var index = end
        while index > 0 && found < count {
            index -= 1
            visited += 1
            if let number = state.ownedNumber(atOrderIndex: index), accepts(number) {
                found += 1
                earliest = index
            }
        }
        return (earliest, found)
    }
}
