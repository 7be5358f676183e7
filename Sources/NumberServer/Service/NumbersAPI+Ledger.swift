import NumberAPI
import NumberCore

extension NumbersAPI {
    func registerLedger(into router: inout RPCRouter) {
        router.register(NumbersMethods.getBalance) { request, context in
            try authorize(context, .read, accountId: request.accountId)
            let balance = try service.balance(accountId: request.accountId)
            return GetBalanceResponse(
                accountId: balance.accountId, balance: balance.balance, currency: balance.currency, held: balance.held,
                available: balance.available)
        }

        router.register(NumbersMethods.addFunds) { request, context in
            try authorize(context, .admin, accountId: request.accountId)
            let account = try service.account(request.accountId)
            if !request.currency.isEmpty, request.currency != account.currency {
                throw RPCError(
                    code: .failedPrecondition,
                    message: "the account's currency is \(account.currency), not \(request.currency)",
                    reason: "CURRENCY_MISMATCH", details: ["expected": account.currency, "got": request.currency])
            }
            let transaction = try await service.addFunds(
                accountId: request.accountId, amount: request.amount, description: request.description.nonEmpty,
                idempotencyKey: context.metadata["idempotency-key"])
            return AddFundsResponse(
                transaction: Transaction(transaction, phoneNumber: ""), balance: transaction.balanceAfter)
        }

        router.register(NumbersMethods.listTransactions) { request, context in
            try authorize(context, .read, accountId: request.accountId)
            let page = try service.listTransactions(
                accountId: request.accountId, pageSize: Int(request.pageSize), pageToken: request.pageToken.nonEmpty)
            return ListTransactionsResponse(
                transactions: page.transactions.map {
                    Transaction($0, phoneNumber: phoneNumber(of: $0, accountId: request.accountId))
                },
                nextPageToken: page.nextPageToken ?? "")
        }

        router.register(NumbersMethods.createTrunk) { request, context in
            try authorize(context, .write, accountId: request.accountId)
            let trunk = try await service.createTrunk(
                accountId: request.accountId, name: request.name, providerTrunkSid: request.providerTrunkSid)
            return CreateTrunkResponse(trunk: NumberAPI.Trunk(trunk, numberCount: 0))
        }

        router.register(NumbersMethods.listTrunks) { request, context in
            try authorize(context, .read, accountId: request.accountId)
            let trunks = try service.listTrunks(accountId: request.accountId)
            return ListTrunksResponse(
                trunks: try trunks.map { trunk in
                    NumberAPI.Trunk(
                        trunk,
                        numberCount: try service.trunkNumberCount(accountId: request.accountId, trunkId: trunk.id))
                })
        }

        router.register(NumbersMethods.deleteTrunk) { request, context in
            try authorize(context, .write, accountId: request.accountId)
            try await service.deleteTrunk(accountId: request.accountId, trunkId: request.trunkId)
            return DeleteTrunkResponse()
        }
    }
}
