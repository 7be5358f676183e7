import CurlHTTP
import Foundation

extension TwilioProvider {
    /// `POST …/IncomingPhoneNumbers.json` with `PhoneNumber` (and `TrunkSid`), without a `BundleSid`: see
    /// ``buy(phoneNumber:trunkSid:country:type:)``.
    public func buy(phoneNumber: String, trunkSid: String?) async throws -> ProvisionedNumber {
        try await buyTyped(phoneNumber: phoneNumber, trunkSid: trunkSid, country: nil, type: nil)
    }

    /// `POST …/IncomingPhoneNumbers.json` with `PhoneNumber` (and `TrunkSid`), and the `BundleSid` configured for
    /// `country` and `type` (``TwilioConfiguration/regulatoryBundle(country:type:)``) if any. Never repeated once it
    /// may have reached Twilio: an unknown outcome throws `.outcomeUnknown` (look the number up), 21422 and friends
    /// `.numberUnavailable`, 21649 (a Bundle required) `.misconfigured`, naming the country.
    public func buy(
        phoneNumber: String, trunkSid: String?, country: String, type: NumberType
    ) async throws -> ProvisionedNumber {
        try await buyTyped(phoneNumber: phoneNumber, trunkSid: trunkSid, country: country, type: type)
    }

    func buyTyped(
        phoneNumber: String, trunkSid: String?, country: String?, type: NumberType?
    ) async throws(ProviderError) -> ProvisionedNumber {
        try TwilioValidation.requireE164(phoneNumber)
        var form = [("PhoneNumber", phoneNumber)]
        if let trunkSid {
            try TwilioValidation.requireSid(trunkSid, prefix: "TK", field: "trunk SID")
            form.append(("TrunkSid", trunkSid))
        }
        let bundle = country.flatMap { country in
            type.flatMap { configuration.regulatoryBundle(country: country, type: $0) }
                ?? configuration.regulatoryBundles[country]
        }
        if let bundle { form.append(("BundleSid", bundle)) }
        let operation = "buy \(phoneNumber)"
        let answer: TwilioTransport.Answer
        do throws(ProviderError) {
            answer = try await performOnAccountList(
                TwilioTransport.Call(
                    method: .post, url: accountURL("/IncomingPhoneNumbers.json"), form: form, operation: operation))
        } catch let error where error.providerCode == TwilioErrorMapping.bundleRequiredCode {
            throw Self.bundleRequired(error, phoneNumber: phoneNumber, country: country, type: type, bundle: bundle)
        }
        // Twilio answered 2xx, so the number is ours: a body we cannot read must not read as "not bought", and a
        // look-up that does not list it yet (Twilio's lists can lag a purchase) proves nothing.
        guard let incoming = TwilioResources.decode(TwilioResources.Incoming.self, from: answer.response.body),
            let number = Self.provisioned(incoming)
        else {
            throw TwilioErrorMapping.outcomeUnknown(
                operation: operation, detail: "HTTP \(answer.response.status) with an unreadable body",
                mayStillTakeEffect: true)
        }
        return number
    }

    /// Twilio's 21649 on a purchase: the operator must approve a regulatory Bundle for the country and configure it
    /// (or the one configured is not approved for this number's type). Never the customer's choice of number.
    static func bundleRequired(
        _ error: ProviderError, phoneNumber: String, country: String?, type: NumberType? = nil, bundle: String?
    ) -> ProviderError {
        let key = [country ?? "XX", type?.rawValue].compactMap { $0 }.joined(separator: "/")
        let place = country.map { "\($0) numbers" } ?? "the country of \(phoneNumber)"
        let fix =
            if let bundle, let country {
                "the Bundle \(bundle) configured for \(country) was not accepted: check in Twilio's console that it "
                    + "is approved and covers this number type"
            } else {
                "approve a regulatory Bundle for \(country ?? "it") in Twilio's console and set it with "
                    + "--twilio-bundles \(key)=BU… (or \(country ?? "XX")=BU… for all its types)"
            }
        return ProviderError(
            .misconfigured, providerCode: error.providerCode,
            message: "buy \(phoneNumber): Twilio requires a regulatory Bundle for \(place) (Twilio error 21649: "
                + "\(error.message)); \(fix)")
    }

    /// `DELETE …/IncomingPhoneNumbers/{Sid}.json` (204). Twilio's 404/20404 throws `.notFound` — marked
    /// `mayStillTakeEffect` when an earlier attempt of this release may have deleted it: the number is gone, or
    /// bought so recently that Twilio does not show it yet (twilio-api.md §8.6), so the caller must watch for it. A
    /// 404 without Twilio's 20404 body is `.misconfigured`, never "gone".
    public func release(sid: String) async throws {
        try await releaseTyped(sid: sid)
    }

    func releaseTyped(sid: String) async throws(ProviderError) {
        try TwilioValidation.requireSid(sid, prefix: "PN", field: "number SID")
        _ = try await transport.perform(
            TwilioTransport.Call(
                method: .delete, url: accountURL("/IncomingPhoneNumbers/\(sid).json"), form: nil,
                operation: "release \(sid)"))
    }

    /// `GET …/IncomingPhoneNumbers.json?PhoneNumber=…`, following `next_page_uri` up to `lookUpPagesMax` pages;
    /// `PhoneNumber` matches partially at Twilio, so only an exact match counts.
    public func lookUp(phoneNumber: String) async throws -> ProvisionedNumber? {
        try await lookUpTyped(phoneNumber: phoneNumber)
    }

    func lookUpTyped(phoneNumber: String) async throws(ProviderError) -> ProvisionedNumber? {
        try TwilioValidation.requireE164(phoneNumber)
        return try await firstIncoming(filter: [("PhoneNumber", phoneNumber)], operation: "look up \(phoneNumber)") {
            $0.phoneNumber == phoneNumber
        }
    }

    /// `GET …/IncomingPhoneNumbers/{Local|TollFree|Mobile}.json?PhoneNumber=`: the typed list holds only the account's
    /// numbers of that kind.
    public func lookUp(phoneNumber: String, type: NumberType) async throws -> ProvisionedNumber? {
        try TwilioValidation.requireE164(phoneNumber)
        return try await firstIncoming(
            filter: [("PhoneNumber", phoneNumber)], operation: "look up \(phoneNumber) as \(type.rawValue)",
            list: "/IncomingPhoneNumbers/\(Self.pathSegment(type)).json"
        ) { $0.phoneNumber == phoneNumber }
    }

    /// Pages through every IncomingPhoneNumber of the account (`PageSize` `limits.listPageSize`, 250 by default,
    /// following `next_page_uri` verbatim),
    /// handing each page to `page`, which bounds the listing (it throws to stop it). A malformed entry fails the
    /// listing: an audit must not skip a number it cannot read. A page larger than the adapter's answer limit (numbers
    /// with long webhook URLs: a full IncomingPhoneNumber is about 1.4 KB without them) is asked for again with half
    /// as many numbers, from the same place (its `PageToken`), down to one; the pages after it keep the smaller size.
    public func listOwned(page: ([ProvisionedNumber]) async throws -> Void) async throws {
        let operation = "list owned numbers"
        var pageSize = configuration.limits.listPageSize
        var url = Self.withQuery(accountURL("/IncomingPhoneNumbers.json"), [("PageSize", String(pageSize))])
        while true {
            let answer: TwilioTransport.Answer
            switch await outcome(of: TwilioTransport.Call(method: .get, url: url, form: nil, operation: operation)) {
            case .success(let got): answer = got
            case .failure(let error):
                guard error.answerTooLarge, pageSize > 1 else { throw error }
                pageSize /= 2
                url = Self.withPageSize(url, pageSize)
                continue
            }
            guard let decoded = TwilioResources.decode(TwilioResources.IncomingPage.self, from: answer.response.body)
            else {
                throw ProviderError(.unavailable, message: "\(operation): Twilio's answer is not the expected JSON")
            }
            var numbers: [ProvisionedNumber] = []
            numbers.reserveCapacity(decoded.incomingPhoneNumbers.count)
            for incoming in decoded.incomingPhoneNumbers {
                guard let number = Self.provisioned(incoming) else {
                    throw ProviderError(.unavailable, message: "\(operation): an owned number is malformed")
                }
                numbers.append(number)
            }
            try await page(numbers)
            guard let next = decoded.nextPageUri, !next.isEmpty else { return }
            url = Self.withPageSize(try nextPageURL(next), pageSize)
        }
    }

    /// The call's answer or its error (a 404 read as ``accountUnknown(_:operation:)``), as a value.
    private func outcome(of call: TwilioTransport.Call) async -> Result<TwilioTransport.Answer, ProviderError> {
        do throws(ProviderError) {
            return .success(try await performOnAccountList(call))
        } catch {
            return .failure(error)
        }
    }

    /// `url` asking for `size` items a page (its `PageSize` replaced), the rest of its query as it was.
    static func withPageSize(_ url: String, _ size: Int) -> String {
        guard var components = URLComponents(string: url) else { return url }
        var items = components.percentEncodedQueryItems ?? []
        items.removeAll { $0.name == "PageSize" }
        items.append(URLQueryItem(name: "PageSize", value: String(size)))
        components.percentEncodedQueryItems = items
        return components.string ?? url
    }

    /// The account's IncomingPhoneNumbers (its lists, typed or not, and its purchases' POST) always exist: a 404 there
    /// is a wrong account in the URL (an API key SID in place of the account SID, twilio-api.md §8.12) — the
    /// operator's to fix, not "no such number" for the customer.
    private static func accountUnknown(_ error: ProviderError, operation: String) -> ProviderError {
        ProviderError(
            .misconfigured, providerCode: error.providerCode,
            message: "\(operation): Twilio does not know the account's IncomingPhoneNumbers (\(error.message)); "
                + "check TWILIO_ACCOUNT_SID")
    }

    /// The call's answer, a 404 read as ``accountUnknown(_:operation:)``.
    func performOnAccountList(
        _ call: TwilioTransport.Call
    ) async throws(ProviderError) -> TwilioTransport.Answer {
        do throws(ProviderError) {
            return try await transport.perform(call)
        } catch let error where error.kind == .notFound {
            throw Self.accountUnknown(error, operation: call.operation)
        }
    }

    /// Lists IncomingPhoneNumbers with `filter`, following `next_page_uri` for at most `lookUpPagesMax` pages,
    /// and returns the first that `matches`; `nil` when the list ends without one.
    func firstIncoming(
        filter: [(String, String)], operation: String, list: String = "/IncomingPhoneNumbers.json",
        matches: (TwilioResources.Incoming) -> Bool
    ) async throws(ProviderError) -> ProvisionedNumber? {
        let limits = configuration.limits
        var url = Self.withQuery(accountURL(list), filter + [("PageSize", String(limits.lookUpPageSize))])
        for _ in 0..<limits.lookUpPagesMax {
            let answer = try await performOnAccountList(
                TwilioTransport.Call(method: .get, url: url, form: nil, operation: operation))
            guard let page = TwilioResources.decode(TwilioResources.IncomingPage.self, from: answer.response.body)
            else {
                throw ProviderError(.unavailable, message: "\(operation): Twilio's answer is not the expected JSON")
            }
            if let match = page.incomingPhoneNumbers.first(where: matches) {
                guard let number = Self.provisioned(match) else {
                    throw ProviderError(.unavailable, message: "\(operation): the owned number is malformed")
                }
                return number
            }
            guard let next = page.nextPageUri, !next.isEmpty else { return nil }
            url = try nextPageURL(next)
        }
        throw ProviderError(
            .unavailable, message: "\(operation): more than \(limits.lookUpPagesMax) pages (lookUpPagesMax)")
    }

    /// Routes the number to `trunkSid` by updating the number's `TrunkSid` (`POST …/IncomingPhoneNumbers/{PN}.json`:
    /// documented to replace whatever trunk or voice application it had, in one step, also when it is on another
    /// trunk — where Trunking v1's association, used before, is not documented to move it), or, with `nil`, removes
    /// it from its current trunk (read from the number, then `DELETE /v1/Trunks/{TK}/PhoneNumbers/{PN}`; a malformed
    /// `trunk_sid` in the number fails `.unavailable`, with nothing deleted).
    public func setTrunk(sid: String, trunkSid: String?) async throws {
        try await setTrunkTyped(sid: sid, trunkSid: trunkSid)
    }

    func setTrunkTyped(sid: String, trunkSid: String?) async throws(ProviderError) {
        try TwilioValidation.requireSid(sid, prefix: "PN", field: "number SID")
        let trunking = configuration.endpoints.trunking
        if let trunkSid {
            try TwilioValidation.requireSid(trunkSid, prefix: "TK", field: "trunk SID")
            _ = try await transport.perform(
                TwilioTransport.Call(
                    method: .post, url: accountURL("/IncomingPhoneNumbers/\(sid).json"), form: [("TrunkSid", trunkSid)],
                    operation: "route \(sid) to \(trunkSid)"))
            return
        }
        guard let current = try await fetch(sid: sid).trunkSid else { return }
        // The SID Twilio answered goes into the DELETE's path: checked like every other SID there, so a malformed one
        // ("TK../x") cannot aim the DELETE at another resource. Twilio's answer is wrong, not the caller's request.
        guard TwilioValidation.isSid(current, prefix: "TK") else {
            throw ProviderError(
                .unavailable,
                message: "remove \(sid) from its trunk: Twilio's answer names a malformed trunk SID "
                    + "(\"\(current.prefix(40))\"); nothing removed")
        }
        _ = try await transport.perform(
            TwilioTransport.Call(
                method: .delete, url: "\(trunking)/v1/Trunks/\(current)/PhoneNumbers/\(sid)", form: nil,
                operation: "remove \(sid) from \(current)"))
    }

    /// `GET …/IncomingPhoneNumbers/{Sid}.json`.
    func fetch(sid: String) async throws(ProviderError) -> ProvisionedNumber {
        let answer = try await transport.perform(
            TwilioTransport.Call(
                method: .get, url: accountURL("/IncomingPhoneNumbers/\(sid).json"), form: nil, operation: "fetch \(sid)"
            ))
        guard let incoming = TwilioResources.decode(TwilioResources.Incoming.self, from: answer.response.body),
            let number = Self.provisioned(incoming)
        else { throw ProviderError(.unavailable, message: "fetch \(sid): Twilio's answer is not the expected JSON") }
        return number
    }

    /// `next_page_uri` is relative to the API host; only a path on it is followed (never another host).
    private func nextPageURL(_ next: String) throws(ProviderError) -> String {
        guard next.hasPrefix("/2010-04-01/Accounts/\(configuration.credentials.accountSid)/IncomingPhoneNumbers"),
            !next.utf8.contains(where: { $0 <= 0x20 })
        else { throw ProviderError(.unavailable, message: "look up: unexpected next_page_uri from Twilio") }
        return configuration.endpoints.api + next
    }

    /// Maps an IncomingPhoneNumber; `nil` when its SID or number is malformed. Without a readable `date_created` the
    /// date is nil, not the time of the answer: the orphan sweep decides on it (``NumberService/sweepOrphans()``), and
    /// a stand-in from this machine's wall clock, hours after a watch began, made a voided purchase's late buy read as
    /// someone's later purchase, left paid with no owner.
    static func provisioned(_ incoming: TwilioResources.Incoming) -> ProvisionedNumber? {
        guard TwilioValidation.isSid(incoming.sid, prefix: "PN"), TwilioValidation.isE164(incoming.phoneNumber) else {
            return nil
        }
        let trunkSid = incoming.trunkSid.flatMap { $0.isEmpty ? nil : $0 }
        return ProvisionedNumber(
            sid: incoming.sid, phoneNumber: incoming.phoneNumber,
            friendlyName: incoming.friendlyName ?? incoming.phoneNumber, trunkSid: trunkSid,
            capabilities: incoming.capabilities?.value ?? NumberCapabilities(),
            dateCreated: incoming.dateCreated.flatMap(TwilioDateParser.rfc2822))
    }
}
