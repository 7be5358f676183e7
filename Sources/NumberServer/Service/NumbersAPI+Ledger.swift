import NumberAPI
import NumberCore

extension NumbersAPI {
    func registerLedger(into router: inout RPCRouter) {
        router.registerSynchronous(NumbersMethods.getBalance) { request, context in
            let accountId = try authorize(context, .read, accountId: request.accountId).accountId
            let balance = try service.balance(accountId: accountId)
            return GetBalanceResponse(
                accountId: balance.accountId, balance: balance.balance, currency: balance.currency, held: balance.held,
                available: balance.available)
        }

        router.register(NumbersMethods.addFunds) { request, context in
            let caller = try authorize(context, .admin, accountId: request.accountId)
            let accountId = try namedAccount(request.accountId, currency: request.currency).id
            let (transaction, replayed) = try await service.addFundsOutcome(
                accountId: accountId, amount: request.amount, description: request.description.nonEmpty,
                idempotencyKey: context.metadata["idempotency-key"], actor: .apiKey(caller.key.id))
            audit(
                context, caller, replayed ? "funds added (a retry: the first result, nothing credited)" : "funds added",
                [
                    "account": "\(accountId)", "amount": "\(transaction.amount)", "currency": "\(transaction.currency)",
                    "transaction": "\(transaction.id)",
                ])
            return AddFundsResponse(
                transaction: Transaction(transaction, phoneNumber: ""), balance: transaction.balanceAfter,
                replayed: replayed)
        }

        router.register(NumbersMethods.adjustBalance) { request, context in
            let caller = try authorize(context, .admin, accountId: request.accountId)
            let accountId = try namedAccount(request.accountId, currency: request.currency).id
            let (transaction, replayed) = try await service.adjustBalance(
                accountId: accountId, amount: request.amount, reason: request.reason,
                idempotencyKey: context.metadata["idempotency-key"], actor: .apiKey(caller.key.id))
            audit(
                context, caller,
                replayed ? "balance adjusted (a retry: the first result, nothing changed)" : "balance adjusted",
                [
                    "account": "\(accountId)", "amount": "\(transaction.amount)", "currency": "\(transaction.currency)",
                    "transaction": "\(transaction.id)", "reason": "\(transaction.description)",
                ])
            return AdjustBalanceResponse(
                transaction: Transaction(transaction, phoneNumber: ""), balance: transaction.balanceAfter,
                replayed: replayed)
        }

        router.registerSynchronous(NumbersMethods.listTransactions) { request, context in
            let accountId = try authorize(context, .read, accountId: request.accountId).accountId
            let page = try service.listTransactions(
                accountId: accountId, pageSize: Int(request.pageSize), pageToken: request.pageToken.nonEmpty,
                start: request.startTime, end: request.endTime)
            return ListTransactionsResponse(
                transactions: page.transactions.map {
                    Transaction($0, phoneNumber: $0.numberId.flatMap { page.phoneNumbers[$0] } ?? "")
                },
                nextPageToken: page.nextPageToken ?? "")
        }

        // Async: a long ledger is summed a chunk at a time off the event loop (``NumberService/statement``).
        router.register(NumbersMethods.getStatement) { request, context in
            let caller = try authorize(context, .read, accountId: request.accountId)
            guard let start = request.startTime, let end = request.endTime else {
                let field = request.startTime == nil ? "start_time" : "end_time"
                throw RPCError(
                    code: .invalidArgument, message: "\(field) is required", reason: "INVALID_FIELD",
                    details: ["field": field])
            }
            return GetStatementResponse(
                try await service.statement(
                    accountId: caller.accountId, start: start, end: end, authorizedBy: caller.key.id))
        }

        router.register(NumbersMethods.createTrunk) { request, context in
            let caller = try authorize(context, .write, accountId: request.accountId)
            let accountId = caller.accountId
            // A trunk configured elsewhere is registered by its SID, which any tenant of the shared provider account
            // could name (another's, or the operator's): only an operator registers one; an account creates its own.
            guard request.providerTrunkSid.isEmpty || caller.key.scope == .admin else {
                throw RPCError(
                    code: .permissionDenied,
                    message: "registering a provider trunk SID needs an admin key; an empty SID creates a trunk",
                    reason: "SCOPE_DENIED")
            }
            let trunk = try await auditingUnknownOutcome(context, caller, "trunk created", ["account": "\(accountId)"])
            {
                try await service.createTrunk(
                    accountId: accountId, name: request.name, providerTrunkSid: request.providerTrunkSid,
                    originationSipUri: request.originationSipUri, authorizedBy: caller.key.id)
            }
            if !request.providerTrunkSid.isEmpty {
                audit(
                    context, caller, "provider trunk registered",
                    [
                        "account": "\(accountId)", "trunk": "\(trunk.id)",
                        "provider_trunk_sid": "\(trunk.providerTrunkSid)",
                    ])
            } else {
                auditIfAdmin(context, caller, "trunk created", ["account": "\(accountId)", "trunk": "\(trunk.id)"])
            }
            return CreateTrunkResponse(trunk: NumberAPI.Trunk(trunk, numberCount: 0))
        }

        router.registerSynchronous(NumbersMethods.listTrunks) { request, context in
            let accountId = try authorize(context, .read, accountId: request.accountId).accountId
            let trunks = try service.listTrunksCounted(accountId: accountId)
            return ListTrunksResponse(trunks: trunks.map { NumberAPI.Trunk($0.trunk, numberCount: $0.numbers) })
        }

        router.register(NumbersMethods.deleteTrunk) { request, context in
            let caller = try authorize(context, .write, accountId: request.accountId)
            try await service.deleteTrunk(
                accountId: caller.accountId, trunkId: request.trunkId, evenIfSuspended: caller.key.scope == .admin,
                authorizedBy: caller.key.id)
            auditIfAdmin(
                context, caller, "trunk deleted", ["account": "\(caller.accountId)", "trunk": "\(request.trunkId)"])
            return DeleteTrunkResponse()
        }
    }
}

extension NumbersAPI {
    /// The account a call that moves money names (required: an admin key has no account of its own), and the
    /// request's currency, which must be the account's (codes compared upper case, as CreateAccount keeps them) and is
    /// required, so that an amount is never read in a currency its caller did not mean (2500 is $25.00 or ¥2500).
    func namedAccount(_ accountId: String, currency: String) throws -> NumberCore.Account {
        let account = try service.account(try requiredAccountId(accountId))
        guard !currency.isEmpty else {
            throw RPCError(
                code: .invalidArgument,
                message: "currency is required: the account's (\(account.currency)), in which the amount is counted",
                reason: "INVALID_FIELD", details: ["field": "currency", "expected": account.currency])
        }
        if currency.uppercased() != account.currency {
            throw RPCError(
                code: .failedPrecondition,
                message: "the account's currency is \(account.currency), not \(currency.prefix(16))",
                reason: "CURRENCY_MISMATCH",
                details: ["expected": account.currency, "got": String(currency.prefix(16))])
        }
        return account
    }

    /// `accountId`, which an admin-only call on one account requires: an admin key has no account of its own to
    /// stand for an empty one (INVALID_ARGUMENT / INVALID_FIELD, field account_id, as the proto's header says; not
    /// NOT_FOUND for an account named "").
    func requiredAccountId(_ accountId: String) throws -> String {
        guard !accountId.isEmpty else {
            throw RPCError(
                code: .invalidArgument, message: "account_id is required", reason: "INVALID_FIELD",
                details: ["field": "account_id"])
        }
        return accountId
    }
}
