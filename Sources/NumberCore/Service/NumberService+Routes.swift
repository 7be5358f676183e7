import Foundation
import Logging

extension NumberService {
    /// Hands back the claim of a call that changed `numberId`'s trunk (``Local/routing``), noting
    /// when it ended if it left the number's route request open (``Local/routesEnded``): a request sent then may
    /// still land for the in-flight horizon after.
    func endRoute(_ numberId: String) {
        let open = coordinator.readDecisionState { $0.routeRequests.contains(numberId) }
        let ended = now()
        local.withLock { local in
            local.routing.removeValue(forKey: numberId)
            if open {
                local.routesEnded[numberId] = ended
            } else {
                local.routesEnded.removeValue(forKey: numberId)
            }
        }
    }

    /// Settles the trunk changes a crash, a lost answer or a store refusal left open (``OwnedNumber/routeRequest``),
    /// at most `max`, oldest first, none a call is changing now nor any whose number's release was asked for (its
    /// release settles it): each number is looked up at the provider and recorded on the trunk the provider routes it
    /// to. A request the provider shows as made is recorded at once; any other only once it can no longer land (the
    /// in-flight horizon after its call ended — for one made before this process started, after the start), as the
    /// trunk of the account the provider routes the number to (the recorded one if the provider's SID is registered
    /// twice), or none; when the provider routes it to a trunk the account does not have (changed in Twilio's
    /// console), or no longer has the number under its SID, the recorded trunk stays and a warning names it (the
    /// provider audit shows it too). Nothing is sent but the look-up: the change is not made again. Returns how many
    /// claimed were left untried (the pass stopped asking the provider).
    func reconcileRoutes(max: Int, into report: inout ReconcileReport, pass: inout ProviderPass) async -> Int {
        let claimed = claimOpenRoutes(max: max)
        var left = 0
        for number in claimed {
            // Handed back as it was: a look-up sends nothing, so the request's window does not move.
            defer { local.withLock { _ = $0.routing.removeValue(forKey: number.id) } }
            guard pass.mayGoOn, let request = number.routeRequest else {
                report.unresolved.append(number.id)
                left += 1
                continue
            }
            let answered = await settleRoute(number, request, into: &report)
            pass.record(answered: answered)
            if !answered { report.providerFailures += 1 }
        }
        return left
    }

    /// Claims up to `max` open route requests no call drives, oldest first, under the decision lock
    /// (``Local/routing``: no trunk change, release or deletion of the asked trunk starts meanwhile).
    private func claimOpenRoutes(max: Int) -> [OwnedNumber] {
        guard max > 0 else { return [] }
        let claimed = try? coordinator.decide { state throws(NumberError) in
            let numbers = local.withLock { local -> [OwnedNumber] in
                // The ends of requests settled since (by a pass, a release) are of no more use.
                local.routesEnded = local.routesEnded.filter { state.routeRequests.contains($0.key) }
                let open = state.routeRequests.compactMap { id -> OwnedNumber? in
                    guard local.routing[id] == nil, let number = state.numbers[id], number.status != .released,
                        number.releaseRequestedAt == nil, number.routeRequest != nil
                    else { return nil }
                    return number
                }
                let oldest = open.sorted {
                    ($0.routeRequest!.at, $0.id) < ($1.routeRequest!.at, $1.id)
                }.prefix(max)
                for number in oldest { local.routing[number.id] = .some(number.routeRequest!.trunkId) }
                return Array(oldest)
            }
            return ([], numbers)
        }.result
        return claimed ?? []
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
        if !landed {
            let since = local.withLock { $0.routesEnded[number.id] ?? max(request.at, $0.startedAt) }
            if now().timeIntervalSince(since) < Double(config.reconcile.inFlightHorizonSeconds) {
                // Sent just before a crash or a lost answer, it may still land: look again on a later pass.
                report.unresolved.append(number.id)
                return true
            }
        }
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
            try await coordinator.perform { state throws(NumberError) -> ([CoreEvent], Void) in
                guard let current = state.numbers[number.id], current.status != .released,
                    current.routeRequest == request
                else { return ([], ()) }
                // A trunk the look-up named may have been deleted since (only the asked one is held): the recorded one.
                var target = trunkId
                if let id = target, state.trunks[id]?.accountId != current.accountId { target = current.trunkId }
                return ([.numberTrunkChanged(numberId: number.id, trunkId: target)], ())
            }
            report.routesSettled.append(number.id)
            logger.info(
                "settled a trunk change left open",
                metadata: [
                    "number": "\(number.id)", "trunk": "\(trunkId ?? "none")", "asked": "\(request.trunkId ?? "none")",
                ])
        } catch {
            report.unresolved.append(number.id)
        }
        return true
    }
}
