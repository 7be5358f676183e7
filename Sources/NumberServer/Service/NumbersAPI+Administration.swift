import Logging
import NumberAPI
import NumberCore

extension NumbersAPI {
    func registerAdministration(into router: inout RPCRouter) {
        router.register(NumbersMethods.createAccount) { request, context in
            let caller = try authorize(context, .admin, accountId: nil)
            let account = try await service.createAccount(name: request.name, currency: request.currency.uppercased())
            audit(context, caller, "account created", ["account": "\(account.id)", "currency": "\(account.currency)"])
            return CreateAccountResponse(account: NumberAPI.Account(account))
        }

        router.registerSynchronous(NumbersMethods.getAccount) { request, context in
            let caller = try authorize(context, .read, accountId: request.accountId)
            let account: NumberCore.Account = try service.account(caller.accountId)
            return GetAccountResponse(account: NumberAPI.Account(account))
        }

        router.registerSynchronous(NumbersMethods.listAccounts) { request, context in
            try authorize(context, .admin, accountId: nil)
            let page = try service.listAccounts(pageSize: Int(request.pageSize), pageToken: request.pageToken.nonEmpty)
            return ListAccountsResponse(
                accounts: page.accounts.map(NumberAPI.Account.init), nextPageToken: page.nextPageToken ?? "")
        }

        router.register(NumbersMethods.setAccountStatus) { request, context in
            let caller = try authorize(context, .admin, accountId: nil)
            let (account, changed) = try await service.setAccountStatusReportingChange(
                try requiredAccountId(request.accountId), try request.status.core())
            // A status set again is logged as such, not as a change: an incident's timeline shows when the account
            // was suspended, and who asked again after (a retry, a second operator), without a second suspension.
            audit(
                context, caller, changed ? "account status set" : "account status unchanged (it had that status)",
                ["account": "\(account.id)", "status": "\(account.status)"])
            return SetAccountStatusResponse(account: NumberAPI.Account(account), unchanged: !changed)
        }

        router.register(NumbersMethods.createApiKey) { request, context in
            let caller = try authorize(context, .admin, accountId: nil)
            let created = try await service.createApiKey(
                name: request.name, scope: try request.scope.core(), accountId: request.accountId.nonEmpty)
            audit(
                context, caller, "API key created",
                [
                    "key": "\(created.key.id)", "scope": "\(created.key.scope.rawValue)",
                    "account": "\(created.key.accountId ?? "-")",
                ])
            return CreateApiKeyResponse(apiKey: NumberAPI.ApiKey(created.key), secret: created.secret)
        }

        router.registerSynchronous(NumbersMethods.listApiKeys) { request, context in
            try authorize(context, .admin, accountId: nil)
            let page = try service.listApiKeys(
                accountId: request.accountId.nonEmpty, pageSize: Int(request.pageSize),
                pageToken: request.pageToken.nonEmpty)
            return ListApiKeysResponse(
                apiKeys: page.keys.map(NumberAPI.ApiKey.init), nextPageToken: page.nextPageToken ?? "")
        }

        router.register(NumbersMethods.revokeApiKey) { request, context in
            let caller = try authorize(context, .admin, accountId: nil)
            let (revoked, changed) = try await service.revokeApiKeyReportingChange(keyId: request.keyId)
            var audited: Logger.Metadata = ["key": "\(revoked.id)", "account": "\(revoked.accountId ?? "-")"]
            if !changed, let at = revoked.revokedAt { audited["revoked_at"] = "\(at.iso8601Milliseconds)" }
            // Revoking a revoked key again is logged as such, with when it was revoked: the timeline keeps one
            // revocation, and still shows who asked again (a retry, or a leaked admin key probing).
            audit(context, caller, changed ? "API key revoked" : "API key already revoked (nothing changed)", audited)
            return RevokeApiKeyResponse(apiKey: NumberAPI.ApiKey(revoked), alreadyRevoked: !changed)
        }

        router.register(NumbersMethods.createBackup) { _, context in
            let caller = try authorize(context, .admin, accountId: nil)
            guard let backup else {
                throw RPCError(
                    code: .failedPrecondition, message: "this numberd keeps its store in memory: nothing to back up",
                    reason: "NO_DURABLE_STORE")
            }
            let written: FileNumberStore.Backup
            do {
                written = try await backup()
            } catch let error as JournalError where error.code == .backupInProgress {
                audit(context, caller, "backup refused", ["reason": "BACKUP_IN_PROGRESS"])
                throw RPCError(code: .aborted, message: error.message, reason: "BACKUP_IN_PROGRESS")
            } catch is CancellationError {
                // The client went, or a stop's drain timed out: the call stopped waiting, not the backup, which its
                // queue finishes alone (the store logs how it ended).
                audit(context, caller, "backup no longer awaited", ["reason": "CANCELLED"])
                throw RPCError(
                    code: .cancelled, message: "the call was cancelled; the backup may still be written",
                    reason: "CANCELLED")
            } catch {
                audit(context, caller, "backup failed", ["reason": "BACKUP_FAILED"])
                context.logger.error("backup failed", metadata: ["error": "\(error)"])
                // The file system's words are sent (the caller holds an admin key: the operator) and logged.
                throw RPCError(
                    code: .internal, message: "backup not written: \(error)", reason: "BACKUP_FAILED",
                    details: ["requestId": context.requestID])
            }
            audit(
                context, caller, "backup written",
                ["backup": "\(written.path)", "seq": "\(written.seq)", "removed": "\(written.removed.count)"])
            return CreateBackupResponse(
                name: written.name, path: written.path, journalSeq: written.seq,
                snapshotBytes: Int64(written.snapshotBytes), linked: written.linked, createdAt: written.createdAt,
                removed: written.removed)
        }

        router.registerSynchronous(NumbersMethods.runProviderAudit) { _, context in
            let caller = try authorize(context, .admin, accountId: nil)
            guard let runProviderAudit else {
                throw RPCError(
                    code: .failedPrecondition, message: "this server runs no provider audits", reason: "NO_AUDIT")
            }
            guard let started = runProviderAudit() else {
                throw RPCError(
                    code: .aborted, message: "a provider audit is running; GetProviderAudit answers once it ends",
                    reason: "AUDIT_IN_PROGRESS")
            }
            audit(context, caller, "provider audit started", ["recheck_seconds": "\(started.recheckSeconds)"])
            return RunProviderAuditResponse(recheckSeconds: started.recheckSeconds, startedAt: started.startedAt)
        }

        router.register(NumbersMethods.adoptNumber) { request, context in
            let caller = try authorize(context, .admin, accountId: request.accountId)
            let accountId = try requiredAccountId(request.accountId)
            let adoption = AdoptionRequest(
                accountId: accountId, phoneNumber: request.phoneNumber, country: request.country.uppercased(),
                type: try request.type.core(field: "type"), trunkId: request.trunkId, charge: try request.charge.core(),
                maxMonthlyFee: request.maxMonthlyFee, maxSetupFee: request.maxSetupFee, actor: .apiKey(caller.key.id),
                authorizedBy: caller.key.id, idempotencyKey: context.metadata["idempotency-key"])
            let audited: Logger.Metadata = [
                "account": "\(accountId)", "phone_number": "\(request.phoneNumber)",
                "charge": "\(adoption.charge.rawValue)", "trunk": "\(request.trunkId?.nonEmpty ?? "none")",
            ]
            let result = try await auditingUnknownOutcome(context, caller, "number adopted", audited) {
                try await service.adoptNumber(adoption)
            }
            var adopted = audited
            adopted["number"] = "\(result.number.id)"
            adopted["charged"] = "\(-result.transaction.amount)"
            audit(
                context, caller,
                result.replayed ? "number adopted (a retry: the first result, nothing charged)" : "number adopted",
                adopted)
            let trunks = try service.listTrunks(accountId: accountId)
            return AdoptNumberResponse(
                number: PhoneNumber(result.number, trunkName: trunks.first { $0.id == result.number.trunkId }?.name),
                transaction: Transaction(result.transaction, phoneNumber: result.number.phoneNumber),
                balanceAfter: result.transaction.balanceAfter, currency: result.transaction.currency,
                replayed: result.replayed)
        }

        // A read of memory under a lock: answered on the event loop.
        router.registerSynchronous(NumbersMethods.getProviderAudit) { _, context in
            try authorize(context, .admin, accountId: nil)
            let status = service.providerAuditStatus
            let failure = status.failure
            guard let audit = status.finished else {
                // One running (an operator's RunProviderAudit, say) is said so: its two listings take a while.
                let running = status.runningSince != nil
                var details = ["running": running ? "true" : "false"]
                if let failure {
                    details["lastFailedAt"] = failure.failedAt.iso8601Milliseconds
                    details["lastFailure"] = failure.reason
                }
                throw RPCError(
                    code: .failedPrecondition,
                    message: (running
                        ? "no provider audit has finished since numberd started; one is running now (it lists the "
                            + "Twilio account twice, --provider-audit-recheck apart): ask again once it ends"
                        : "no provider audit has finished since numberd started (the first periodic one runs some "
                            + "minutes after the start, none with --provider-audit-interval 0; RunProviderAudit starts "
                            + "one now)") + (failure.map { "; the last one failed: \($0.reason)" } ?? ""),
                    reason: "NO_AUDIT_YET", details: details)
            }
            let report = audit.report
            return GetProviderAuditResponse(
                finishedAt: audit.finishedAt, providerNumbers: Int64(report.providerNumbers),
                heldNumbers: Int64(report.heldNumbers), trunksCompared: report.providerTrunks != nil,
                providerTrunks: Int64(report.providerTrunks ?? 0),
                counts: ProviderAuditReport.Difference.Kind.allCases.map {
                    ProviderAuditCount(kind: $0.rawValue, count: Int64(report.counts[$0] ?? 0))
                },
                differences: report.differences.map {
                    ProviderAuditDifference(
                        kind: $0.kind.rawValue, phoneNumber: $0.phoneNumber, providerSid: $0.providerSid,
                        numberId: $0.numberId ?? "", accountId: $0.accountId ?? "", trunkId: $0.trunkId ?? "",
                        intentId: $0.intentId ?? "")
                },
                runningSince: status.runningSince, lastFailedAt: failure?.failedAt,
                lastFailure: failure?.reason ?? "")
        }
    }
}
