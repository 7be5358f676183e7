import ArgumentParser
import NumberAPI
import NumberTLS

/// `numbers-load`: the load-testing harness of numberd.
@main
struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "numbers-load",
        abstract: "Load-test a local numberd over real RPCs (closed or open loop) and its raw TLS transport.",
        discussion: """
            With no connection flags it targets the local default server (127.0.0.1:7443) with the admin key and \
            CA of the local data directory, like the `numbers` CLI, and refuses a data directory bound to Twilio \
            (its provider.json) unless --allow-provider-charges. It sets up its own accounts, keys and funds \
            through the admin API. Run numberd with --rate-limit and --purchase-cap above the load you apply, or \
            the run measures the rate limiter.

            Exit status: 0 when the run measured calls the server served and gave back what it made (connections: \
            every connection established and held); 3 when it has no figure, its report printed all the same (run: \
            no measured call sent, none OK, or more failed or never made than --max-error-fraction allows, the raw \
            comparison not run; connections: fewer established than --count, or fewer still open after --hold); 4 when run's \
            clean-up left something it made (its unsettled lines; before 3); 64 for an option refused; 128 + the \
            signal's number when SIGINT, SIGTERM or SIGHUP interrupted run (after its clean-up) or connections (after \
            its report of what was done); 1 for any other \
            failure.
            """,
        version: NumberdVersion.current,
        subcommands: [RunLoad.self, RawServerCommand.self, ConnectionsCommand.self],
        defaultSubcommand: RunLoad.self)

    /// Initializes OpenSSL first (``OpenSSLProcess``: an exit with connections open must not free it under them), then
    /// runs the command.
    static func main() async {
        OpenSSLProcess.initialize()
        await main(nil)
    }
}
