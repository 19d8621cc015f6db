// gzip for /metrics when the scraper accepts it (Prometheus sends
// Accept-Encoding: gzip): a scrape of many targets shrinks several times on
// the wire, as node_exporter's and cpp-httplib's responses did.
#pragma once

#include <string>
#include <string_view>

namespace dtrack::cli::sidecar {

// Whether an Accept-Encoding header takes gzip: "gzip" (or "x-gzip", or "*")
// with a q above 0; an explicit gzip;q=0 refuses it.
bool accepts_gzip(std::string_view accept_encoding);

// `body` as one gzip member (RFC 1952); empty if zlib fails.
std::string gzip(std::string_view body);

}  // namespace dtrack::cli::sidecar
