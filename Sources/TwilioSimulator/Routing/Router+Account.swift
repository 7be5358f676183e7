extension Router {
    /// `GET /2010-04-01/Accounts/{AccountSid}.json`: the account itself, the cheapest authenticated request there is
    /// (numberd checks new credentials with it). Twilio's resource also carries `auth_token`, dates and
    /// `subresource_uris`; left out (nothing reads them, and the token would be in every capture of the answer).
    static func account(context: RouterContext) -> SimulatorResponse {
        let sid = context.configuration.credentials.accountSid
        return .json(
            200,
            .object([
                ("sid", .string(sid)), ("owner_account_sid", .string(sid)),
                ("friendly_name", .string("Twilio simulator account")), ("status", .string("active")),
                ("type", .string("Full")), ("uri", .string("/2010-04-01/Accounts/\(sid).json")),
            ]))
    }
}
