import NIOCore

/// Closed loop: `concurrency` workers per connection, each making its next call as soon as the previous one
/// finished. Throughput is what the server gives; latency is measured from each call's send. A worker stops at the
/// end, or when the run's call budget no longer holds every call its next operation may make.
struct ClosedLoopDriver {
    var concurrency: Int

    func run(_ plan: LoadPlan) async {
        let workers = plan.clients.count * concurrency
        await withDiscardingTaskGroup { group in
            for worker in 0..<workers {
                let client = plan.clients[worker % plan.clients.count]
                let account = plan.accounts[worker % plan.accounts.count]
                group.addTask(executorPreference: plan.executors[worker % plan.clients.count]) {
                    var random = FastRandom(seed: UInt64(worker + 1) &* 0x9E37_79B9_7F4A_7C15)
                    while !Task.isCancelled {
                        let start = NIODeadline.now()
                        guard start < plan.end else { break }
                        let operation = plan.mix.pick(random.next())
                        let reserved = WorkloadRunner.callsMax(of: operation)
                        guard plan.budget.take(reserved) else { break }
                        let made = await plan.runner.perform(
                            operation, client: client, account: account, stripe: worker, intended: start,
                            random: &random)
                        plan.budget.giveBack(reserved - made)
                    }
                }
            }
        }
    }
}
