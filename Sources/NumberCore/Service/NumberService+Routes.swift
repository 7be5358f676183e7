import Foundation
import Logging

extension NumberService {
    /// Hands back the claim of a call that changed `numberId`'s trunk (``Local/routing``), noting when it ended if its
    /// own request may still land (`mayLandLate`: sent without an answer) and the number's route request is left open
    /// (``Local/routesEnded``): it may land for the in-flight horizon after. A call answered or refused leaves the time
    /// of the requests it replaced as it was (captured by its claim), so changes made again and again over one
    /// without an answer do not keep it from being settled.
    func endRoute(_ numberId: String, mayLandLate: Bool) {
        let open = coordinator.readDecisionState { $0.routeRequests.contains(numberId) }
        let ended = now()
        local.withLock { local in
            local.routing.removeValue(forKey: numberId)
            if !open {
                local.routesEnded.removeValue(forKey: numberId)
            } else if mayLandLate {
                local.routesEnded[numberId] = ended
            }
        }
    }

    /// Settles the trunk changes a crash, a lost answer or a store refusal left open (``OwnedNumber/routeRequest``), at
    /// most `max` a pass, by number id from where the last pass stopped (so requests whose look-ups keep failing cannot
    /// keep the others out), none a call is changing now nor any whose number's release is asked for or waiting (its
    /// release settles it): each number is looked up at the provider and recorded on the trunk the provider routes it
    /// to, once no request of it can land any more (the in-flight horizon after its call ended — for one made before
    /// this process started, after the latest it can have ended, ``inheritedCallsEnded(startedAt:from:calls:horizon:)``
    /// — before the look-up began): as the trunk of the account the provider
    /// routes the number to (the recorded one if the provider's SID is registered twice), or none. Not sooner, even
    /// when the provider shows the trunk asked for: that may be where the number was before, the request still on its
    /// way, and a later change answered at once would then be undone by its landing for good; when the provider routes
    /// it to a trunk the account does not have (changed in Twilio's console), or no longer has the number under its
    /// SID, the recorded trunk stays and a warning names it (the provider audit shows it too). Nothing is sent but the
    /// look-up: the change is not made again. Each number is claimed only for its own look-up and record (a change or
    /// release of it meanwhile is refused ABORTED, "in progress"); a request is not looked up until it can no longer
    /// land (the answer could not be used). Returns how many were left untried (the pass stopped asking the provider).
    func reconcileRoutes(max: Int, into report: inout ReconcileReport, pass: inout ProviderPass) async -> Int {
        let (candidates, cursorBefore) = openRoutes(max: max)
        var left = 0
        var lastTried: String?
        for numberId in candidates {
            guard pass.mayGoOn else {
                report.unresolved.append(numberId)
                left += 1
                continue
            }
            lastTried = numberId
            // Not looked up while it may still land: a look-up showing the trunk asked for cannot tell its landing
            // from the number having been there before (a later change answered at once, then this one landing, would
            // leave the record wrong for good), nor a landing of one it replaced. Nor claimed meanwhile: a change or
            // release of the number would be refused "in progress" for nothing.
            if let open = coordinator.readDecisionState({ $0.numbers[numberId]?.routeRequest }),
                mayStillLand(numberId, open, at: now())
            {
                report.unresolved.append(numberId)
                continue
            }
            guard let number = claimOpenRoute(numberId), let request = number.routeRequest else { continue }
            // Handed back as it was: a look-up sends nothing, so the request's window does not move.
            defer { local.withLock { _ = $0.routing.removeValue(forKey: numberId) } }
            // Made again since the read above, by a call that ended meanwhile.
            if mayStillLand(number.id, request, at: now()) {
                report.unresolved.append(number.id)
                continue
            }
            let answered = await settleRoute(number, request, into: &report)
            pass.record(answered: answered)
            if !answered { report.providerFailures += 1 }
        }
        if left > 0 { local.withLock { $0.routeCursor = lastTried ?? cursorBefore } }
        return left
    }

    /// Up to `max` numbers with an open route request, by id after ``Local/routeCursor`` (wrapping around); the cursor
    /// moves past them.
    private func openRoutes(max: Int) -> (ids: [String], cursorBefore: String?) {
        guard max > 0 else { return ([], nil) }
        return coordinator.readDecisionState { state in
            local.withLock { local in
                // The ends of requests settled since (by a pass, a release) are of no more use.
                local.routesEnded = local.routesEnded.filter { state.routeRequests.contains($0.key) }
                let ids = Self.rotation(max, of: state.routeRequests, after: local.routeCursor)
                let cursorBefore = local.routeCursor
                if let last = ids.last { local.routeCursor = last }
                return (ids, cursorBefore)
            }
        }
    }

    /// Claims the number for settling its open route request, under the decision lock (``Local/routing``: no trunk
    /// change, release or deletion of the asked trunk starts meanwhile); nil when a call changes or releases it, a
    /// release of it waits or is asked for (its release settles it), or no request is open any more.
    private func claimOpenRoute(_ numberId: String) -> OwnedNumber? {
        let claimed = try? coordinator.decide { state throws(NumberError) -> ([CoreEvent], OwnedNumber?) in
            let number = local.withLock { local -> OwnedNumber? in
                guard local.routing[numberId] == nil, !local.liveReleases.contains(numberId),
                    local.waitingReleases[numberId] == nil, let number = state.numbers[numberId],
                    number.status != .released, number.releaseRequestedAt == nil, let request = number.routeRequest
                else { return nil }
                local.routing[numberId] = .some(request.trunkId)
                return number
            }
            return ([], number)
        }.result
        return claimed ?? nil
    }

    /// Whether a request of the number may still land at the provider at `now`: within the in-flight horizon after
    /// its last call ended (``Local/routesEnded``), or, when it did not end here, after the latest its call can have
    /// ended (``inheritedCallsEnded(startedAt:from:calls:horizon:)``: a request it replaced ended before it was made).
    func mayStillLand(_ numberId: String, _ request: RouteRequest, at now: Date) -> Bool {
        let horizon = config.reconcile.inFlightHorizonSeconds
        let since = local.withLock {
            $0.routesEnded[numberId]
                ?? Self.inheritedCallsEnded(startedAt: $0.startedAt, from: request.at, horizon: horizon)
        }
        return now.timeIntervalSince(since) < Double(config.reconcile.inFlightHorizonSeconds)
    }

    /// Settles one open route request (``reconcileRoutes(max:into:pass:)``); false when the provider did not answer.
    private func settleRoute(
        _ number: OwnedNumber, _ request: RouteRequest, into report: inout ReconcileReport
    ) async -> Bool {
        let shownSid: String??
        switch await lookUpOwned(number.phoneNumber) {
        // Another SID is another purchase of the number: it says nothing of where this one is routed.
        case .owned(let found) where found.sid == number.providerSid: shownSid = .some(found.trunkSid)
        case .owned, .notOwned: shownSid = nil
        case .unknown:
            report.unresolved.append(number.id)
            return false
        }
        let (askedSid, shownTrunks) = coordinator.readDecisionState { state in
            (
                request.trunkId.flatMap { state.trunks[$0]?.providerTrunkSidKey },
                shownSid.flatMap { $0 }.map { state.trunkIds(providerSid: $0, of: number.accountId) } ?? []
            )
        }
        let landed = shownSid.map { $0.map(Trunk.sidKey) == askedSid } ?? false
        let trunkId: String?
        if landed {
            trunkId = request.trunkId
        } else if case .some(.none) = shownSid {
            trunkId = nil
        } else if !shownTrunks.isEmpty {
            trunkId = number.trunkId.flatMap { shownTrunks.contains($0) ? $0 : nil } ?? shownTrunks.min()
        } else {
            trunkId = number.trunkId
            logger.warning(
                "a trunk change left open is settled on the recorded trunk: the provider does not route the number to a trunk of its account (or no longer has it); the provider audit names it",
                metadata: [
                    "number": "\(number.id)", "phoneNumber": "\(number.phoneNumber)",
                    "providerTrunkSid": "\(shownSid.flatMap { $0 } ?? "none")",
                    "recorded": "\(number.trunkId ?? "none")",
                ])
        }
        do throws(NumberError) {
            let recorded = try await coordinator.perform { state throws(NumberError) -> ([CoreEvent], String??) in
                guard let current = state.numbers[number.id], current.status != .released,
                    current.routeRequest == request
                else { return ([], nil) }
                // A trunk the look-up named may have been deleted since (only the asked ones are held): the recorded one.
                var target = trunkId
                if let id = target, state.trunks[id]?.accountId != current.accountId { target = current.trunkId }
                return ([.numberTrunkChanged(numberId: number.id, trunkId: target)], .some(target))
            }
            guard let recorded else { return true }
            // Settled as a recorded change settles it: what this process held in memory for it goes too, but for
            // requests that may still land (``UnsettledRoutes/settle(_:at:)``).
            let settledAt = now()
            local.withLock { $0.unsettledRoutes.settle(number.id, at: settledAt) }
            report.routesSettled.append(number.id)
            logger.info(
                "settled a trunk change left open",
                metadata: [
                    "number": "\(number.id)", "trunk": "\(recorded ?? "none")", "asked": "\(request.trunkId ?? "none")",
                ])
        } catch {
            report.unresolved.append(number.id)
        }
        return true
    }
}
