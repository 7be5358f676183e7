import Foundation
import Logging
import NumberAPI
import NumberCore

extension NumbersAPI {
    func registerNumbers(into router: inout RPCRouter) {
        router.register(NumbersMethods.searchNumbers) { request, context in
            let caller = try authorize(context, .read, accountId: request.accountId)
            let limit = request.limit == 0 ? service.config.limits.searchResultsDefault : Int(request.limit)
            let query = ProviderSearchQuery(
                country: request.country.uppercased(), type: try request.type.core(field: "type"),
                areaCode: request.areaCode.nonEmpty, contains: request.contains.nonEmpty,
                region: request.region.nonEmpty,
                locality: request.locality.nonEmpty, postalCode: request.postalCode.nonEmpty,
                capabilities: request.requiredCapabilities.required, limit: limit)
            let result = try await service.search(query, accountId: caller.accountId, authorizedBy: caller.key.id)
            return SearchNumbersResponse(
                numbers: result.numbers.map { priced in
                    NumberAPI.AvailableNumber(
                        phoneNumber: priced.number.phoneNumber, friendlyName: priced.number.friendlyName,
                        locality: priced.number.locality ?? "", region: priced.number.region ?? "",
                        postalCode: priced.number.postalCode ?? "", country: priced.number.country,
                        type: NumberAPI.NumberType(priced.number.type),
                        capabilities: Capabilities(priced.number.capabilities),
                        pricing: Pricing(
                            setupFee: priced.price.setupFee, monthlyFee: priced.price.monthlyFee,
                            currency: priced.price.currency))
                },
                totalFound: Int32(clamping: result.totalFound), totalFoundIsLowerBound: result.totalIsLowerBound)
        }

        router.register(NumbersMethods.purchaseNumbers) { request, context in
            var caller = try authorize(context, .write, accountId: request.accountId)
            let accountId = caller.accountId
            let purchase = try service.validated(
                PurchaseRequest(
                    accountId: accountId, phoneNumbers: request.numbers, country: request.country.uppercased(),
                    type: try request.type.core(field: "type"), trunkId: request.trunkId,
                    currency: request.currency.uppercased().nonEmpty,
                    idempotencyKey: context.metadata["idempotency-key"],
                    requiredCapabilities: Capabilities(voice: request.voice, sms: request.sms, mms: request.mms)
                        .required,
                    maxMonthlyFee: request.maxMonthlyFee, maxSetupFee: request.maxSetupFee,
                    authorizedBy: caller.key.id))
            let charged = try chargePurchases(&caller, purchase)
            let result: PurchaseResult
            do {
                do {
                    result = try await service.purchase(charged)
                } catch let error as NumberError where error.reason == .idempotencyKeyGone {
                    // Taken for a retry, the key's first purchase was gone when the purchase looked (expired since, or
                    // failed): a new purchase, charged to the cap as one. (It used to buy uncharged: a key reused
                    // with the same numbers just as it expired bought past the cap.)
                    result = try await service.purchase(try chargePurchases(&caller, purchase, asRetry: false))
                }
            } catch {
                // A purchase whose outcome is unknown may still be committed by reconciliation: it keeps its share
                // of the cap, or retrying it would go past the cap.
                if (error as? NumberError)?.reason != .outcomeUnknown { caller.refundPurchases(rateLimiter) }
                auditIfAdmin(
                    context, caller, "numbers purchased",
                    ["account": "\(accountId)", "phone_numbers": "\(purchase.phoneNumbers.joined(separator: ","))"],
                    failedWith: error)
                throw error
            }
            // A replay bought nothing new (its first request was charged).
            if result.replayed { caller.refundPurchases(rateLimiter) }
            auditIfAdmin(
                context, caller,
                result.replayed ? "numbers purchased (a retry: the first result)" : "numbers purchased",
                [
                    "account": "\(accountId)", "numbers": "\(result.numbers.map(\.id).joined(separator: ","))",
                    "charged": "\(result.transactions.reduce(0) { $0 - $1.amount })",
                ])
            let trunks = try service.listTrunks(accountId: accountId)
            let bought = result.numbers.map { number in
                PurchasedNumber(
                    number: PhoneNumber(number, trunkName: trunks.first { $0.id == number.trunkId }?.name),
                    transaction: result.transactions.first { $0.numberId == number.id }.map {
                        Transaction($0, phoneNumber: number.phoneNumber)
                    } ?? Transaction())
            }
            let balance = try service.balance(accountId: accountId)
            return PurchaseNumbersResponse(
                message: bought.count == 1
                    ? "Phone number purchased successfully" : "Phone numbers purchased successfully",
                numbers: bought, totalCharged: result.transactions.reduce(0) { $0 - $1.amount },
                currency: balance.currency, balanceAfter: result.transactions.last?.balanceAfter ?? balance.balance,
                replayed: result.replayed)
        }

        router.registerSynchronous(NumbersMethods.listNumbers) { request, context in
            let accountId = try authorize(context, .read, accountId: request.accountId).accountId
            // An empty trunk_id is no filter, as in PurchaseNumbers: it was TRUNK_NOT_FOUND.
            let page = try service.listNumbers(
                NumberCore.ListNumbersRequest(
                    accountId: accountId, status: try request.status.coreFilter(), trunkId: request.trunkId?.nonEmpty,
                    pageSize: Int(request.pageSize), pageToken: request.pageToken.nonEmpty))
            return ListNumbersResponse(
                numbers: page.numbers.map(PhoneNumber.init),
                total: Int32(clamping: page.total), monthlyCost: page.monthlyCost, currency: page.currency,
                nextPageToken: page.nextPageToken ?? "")
        }

        router.registerSynchronous(NumbersMethods.getNumber) { request, context in
            let accountId = try authorize(context, .read, accountId: request.accountId).accountId
            let listing = try service.number(accountId: accountId, numberId: request.numberId)
            return GetNumberResponse(number: PhoneNumber(listing))
        }

        router.register(NumbersMethods.updateNumber) { request, context in
            let caller = try authorize(context, .write, accountId: request.accountId)
            let accountId = caller.accountId
            let trunkId: String?
            switch (request.assignTrunkId, request.unassignTrunk) {
            case (.some(let id), false) where !id.isEmpty: trunkId = id
            case (nil, true): trunkId = nil
            default:
                throw RPCError(
                    code: .invalidArgument,
                    message: "set exactly one of assign_trunk_id (non-empty) and unassign_trunk",
                    reason: "INVALID_FIELD", details: ["field": "assign_trunk_id"])
            }
            let audited: Logger.Metadata = [
                "account": "\(accountId)", "number": "\(request.numberId)", "trunk": "\(trunkId ?? "none")",
            ]
            let listing = try await auditingUnknownOutcome(context, caller, "number's trunk set", audited) {
                try await service.setTrunk(
                    accountId: accountId, numberId: request.numberId, trunkId: trunkId,
                    evenIfSuspended: caller.key.scope == .admin, authorizedBy: caller.key.id)
            }
            auditIfAdmin(context, caller, "number's trunk set", audited)
            return UpdateNumberResponse(number: PhoneNumber(listing))
        }

        router.register(NumbersMethods.releaseNumber) { request, context in
            let caller = try authorize(context, request.dryRun ? .read : .write, accountId: request.accountId)
            let result = try await auditingUnknownOutcome(
                context, caller, "number released", ["account": "\(caller.accountId)", "number": "\(request.numberId)"]
            ) {
                try await service.release(
                    accountId: caller.accountId, numberId: request.numberId, dryRun: request.dryRun,
                    idempotencyKey: context.metadata["idempotency-key"],
                    expectedNextBillingDate: request.expectedNextBillingDate,
                    expectNoPaidCycle: request.expectNoPaidCycle, evenIfSuspended: caller.key.scope == .admin,
                    actor: .apiKey(caller.key.id))
            }
            if !request.dryRun {
                auditIfAdmin(
                    context, caller,
                    result.replayed
                        ? "number released (a retry: the first result, nothing changed)" : "number released",
                    ["account": "\(caller.accountId)", "number": "\(result.number.id)", "refund": "\(result.refund)"])
            }
            return ReleaseNumberResponse(
                message: result.dryRun ? "Dry run: nothing was released" : "Phone number released successfully",
                id: result.number.id, phoneNumber: result.number.phoneNumber, releasedAt: result.releasedAt,
                finalBilling: FinalBilling(
                    proratedRefund: result.refund, currency: result.number.currency, description: result.description,
                    remainingDays: Int32(clamping: result.remainingDays),
                    daysInCycle: Int32(clamping: result.daysInCycle), renewalCharge: result.renewalCharge,
                    nextBillingDate: result.nextBillingDate),
                transaction: result.transaction.map { Transaction($0, phoneNumber: result.number.phoneNumber) },
                dryRun: result.dryRun,
                renewals: result.renewals.map { Transaction($0, phoneNumber: result.number.phoneNumber) },
                replayed: result.replayed)
        }
    }
}

extension String {
    /// nil for the empty string: proto3 has no absent strings, the core does.
    var nonEmpty: String? { isEmpty ? nil : self }
}

extension Calendar {
    static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()
}
