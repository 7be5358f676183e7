import COpenSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads names and fingerprints out of an `X509 *`.
enum X509Inspection {
    /// The identity of `certificate` (borrowed, not freed).
    static func identity(_ certificate: OpaquePointer) -> TLSPeerIdentity {
        let (dnsNames, ipAddresses) = subjectAlternativeNames(certificate)
        return TLSPeerIdentity(
            commonName: commonName(certificate), subject: subject(certificate), dnsNames: dnsNames,
            ipAddresses: ipAddresses, sha256Fingerprint: fingerprint(certificate))
    }

    static func subject(_ certificate: OpaquePointer) -> String {
        guard let name = X509_get_subject_name(certificate), let line = X509_NAME_oneline(name, nil, 0) else {
            return ""
        }
        defer { numberd_OPENSSL_free(line) }
        return String(cString: line)
    }

    static func commonName(_ certificate: OpaquePointer) -> String? {
        guard let name = X509_get_subject_name(certificate) else {
            return nil
        }
        let index = X509_NAME_get_index_by_NID(name, NID_commonName, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(name, index),
            let data = X509_NAME_ENTRY_get_data(entry)
        else {
            return nil
        }
        var utf8: UnsafeMutablePointer<UInt8>?
        let length = ASN1_STRING_to_UTF8(&utf8, data)
        guard length >= 0, let utf8 else {
            OpenSSLErrorQueue.clear()
            return nil
        }
        defer { numberd_OPENSSL_free(utf8) }
        return String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self)
    }

    static func subjectAlternativeNames(_ certificate: OpaquePointer) -> (dns: [String], ip: [String]) {
        guard let names = numberd_X509_get_subject_alt_names(certificate) else {
            OpenSSLErrorQueue.clear()
            return ([], [])
        }
        defer { GENERAL_NAMES_free(names) }
        var dns: [String] = []
        var ip: [String] = []
        for index in 0..<numberd_GENERAL_NAMES_count(names) {
            var data: UnsafePointer<UInt8>?
            var length: Int32 = 0
            let kind = numberd_GENERAL_NAMES_entry(names, index, &data, &length)
            guard let data, length > 0 else {
                continue
            }
            let bytes = UnsafeBufferPointer(start: data, count: Int(length))
            if kind == 1 {
                dns.append(String(decoding: bytes, as: UTF8.self))
            } else if kind == 2, let text = ipText(bytes) {
                ip.append(text)
            }
        }
        return (dns, ip)
    }

    /// `inet_ntop` of a 4- or 16-byte address.
    static func ipText(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        let family: Int32
        switch bytes.count {
        case 4: family = AF_INET
        case 16: family = AF_INET6
        default: return nil
        }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(family, bytes.baseAddress, &text, socklen_t(text.count)) != nil else {
            return nil
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func fingerprint(_ certificate: OpaquePointer) -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard X509_digest(certificate, EVP_sha256(), &digest, &length) == 1 else {
            OpenSSLErrorQueue.clear()
            return ""
        }
        let hex: [Character] = Array("0123456789abcdef")
        var text = ""
        for byte in digest.prefix(Int(length)) {
            text.append(hex[Int(byte >> 4)])
            text.append(hex[Int(byte & 0x0f)])
        }
        return text
    }
}
