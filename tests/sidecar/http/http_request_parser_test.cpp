// The sidecar's HTTP request parser on bytes: what a scraper sends is read
// whole however it is split, and what a hostile client sends is refused at
// the limit with the status that says why (431, 413, 400, 505).
#include "sidecar/http/http_request_parser.hpp"

#include <gtest/gtest.h>

using dtrack::cli::sidecar::HttpRequestParser;
using dtrack::cli::sidecar::ParsedRequest;
using dtrack::cli::sidecar::RequestLimits;
using Outcome = ParsedRequest::Outcome;

namespace {

const std::string scrape =
    "GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9464\r\nAccept: application/openmetrics-text;version=1.0.0\r\n"
    "Accept: text/plain;q=0.5\r\nUser-Agent: Prometheus/2.45.0\r\n\r\n";

ParsedRequest parse_whole(const std::string& bytes, RequestLimits limits = {}) {
    HttpRequestParser parser(limits);
    return parser.parse(bytes);
}

TEST(HttpRequestParser, AScrapersRequestIsReadWhole) {
    const ParsedRequest p = parse_whole(scrape);
    ASSERT_EQ(p.outcome, Outcome::complete) << p.reason;
    EXPECT_EQ(p.consumed, scrape.size());
    EXPECT_EQ(p.request.method, "GET");
    EXPECT_EQ(p.request.target, "/metrics?x=1");
    EXPECT_EQ(p.request.path(), "/metrics");
    EXPECT_EQ(p.request.minor_version, 1);
    EXPECT_EQ(p.request.header("accept"), "application/openmetrics-text;version=1.0.0, text/plain;q=0.5");
    EXPECT_EQ(p.request.header("user-agent"), "Prometheus/2.45.0");
    EXPECT_EQ(p.request.header("authorization"), "");
    EXPECT_TRUE(p.request.keep_alive());
}

TEST(HttpRequestParser, ARequestSentAByteAtATimeIsTheSameRequest) {
    HttpRequestParser parser;
    std::string buffer;
    for (size_t i = 0; i + 1 < scrape.size(); ++i) {
        buffer += scrape[i];
        ASSERT_EQ(parser.parse(buffer).outcome, Outcome::incomplete) << "after " << i + 1 << " bytes";
    }
    buffer += scrape.back();
    const ParsedRequest p = parser.parse(buffer);
    ASSERT_EQ(p.outcome, Outcome::complete);
    EXPECT_EQ(p.request.header("accept"), "application/openmetrics-text;version=1.0.0, text/plain;q=0.5");
}

TEST(HttpRequestParser, PipelinedRequestsEndWhereTheFirstHeadEnds) {
    const std::string two = scrape + "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n";
    const ParsedRequest first = parse_whole(two);
    ASSERT_EQ(first.outcome, Outcome::complete);
    EXPECT_EQ(first.consumed, scrape.size());
    const ParsedRequest second = parse_whole(two.substr(first.consumed));
    ASSERT_EQ(second.outcome, Outcome::complete);
    EXPECT_EQ(second.request.method, "HEAD");
}

TEST(HttpRequestParser, BareLineFeedsAndEmptyLinesBeforeTheRequestLineAreAccepted) {
    const ParsedRequest p = parse_whole("\r\n\nGET / HTTP/1.1\nHost: h\n\n");
    ASSERT_EQ(p.outcome, Outcome::complete) << p.reason;
    EXPECT_EQ(p.request.target, "/");
    EXPECT_EQ(p.request.header("host"), "h");
}

TEST(HttpRequestParser, MoreThanTheHeaderLineLimitIsRefusedWith431BeforeTheHeadEnds) {
    HttpRequestParser parser(RequestLimits{.max_head_bytes = 1 << 20, .max_header_lines = 100});
    std::string buffer = "GET /metrics HTTP/1.1\r\nHost: h\r\n";
    for (int i = 0; i < 99; ++i) buffer += "X-A: b\r\n";
    ASSERT_EQ(parser.parse(buffer).outcome, Outcome::incomplete);  // 100 header lines: the limit
    buffer += "X-A: b\r\n";
    const ParsedRequest p = parser.parse(buffer);
    EXPECT_EQ(p.outcome, Outcome::refused);
    EXPECT_EQ(p.status, 431);
    EXPECT_NE(p.reason.find("more than 100 header lines"), std::string::npos) << p.reason;
}

TEST(HttpRequestParser, AHeadOverTheByteLimitIsRefusedWith431WithOrWithoutItsEnd) {
    const RequestLimits limits{.max_head_bytes = 1024, .max_header_lines = 100};
    const std::string endless = "GET /metrics HTTP/1.1\r\nHost: h\r\nX-Long: " + std::string(2000, 'a');
    const ParsedRequest unended = parse_whole(endless, limits);
    EXPECT_EQ(unended.outcome, Outcome::refused);
    EXPECT_EQ(unended.status, 431);
    const ParsedRequest ended = parse_whole(endless + "\r\n\r\n", limits);
    EXPECT_EQ(ended.status, 431);
    // At the limit exactly it is read.
    std::string exact = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
    exact += std::string(1024 - exact.size() - 4, 'a') + "\r\n\r\n";
    ASSERT_EQ(exact.size(), 1024u);
    EXPECT_EQ(parse_whole(exact, limits).outcome, Outcome::complete);
}

TEST(HttpRequestParser, AnyBodyIsRefusedWith413WhateverItsLength) {
    for (const char* header : {"Content-Length: 99999999999", "Content-Length: 1",
                               "Content-Length: 999999999999999999999999999999", "Transfer-Encoding: chunked"}) {
        const ParsedRequest p = parse_whole("GET /metrics HTTP/1.1\r\nHost: h\r\n" + std::string(header) + "\r\n\r\n");
        EXPECT_EQ(p.outcome, Outcome::refused) << header;
        EXPECT_EQ(p.status, 413) << header;
    }
    EXPECT_EQ(parse_whole("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n").outcome, Outcome::complete);
}

TEST(HttpRequestParser, MalformedHeadsAreRefusedWith400Or505) {
    const struct {
        std::string head;
        int status;
    } cases[] = {
        {"GET /metrics HTTP/1.1\r\n\r\n", 400},                           // no Host
        {"GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},     // two
        {"GET /metrics\r\nHost: h\r\n\r\n", 400},                         // no version
        {"GET  /metrics HTTP/1.1\r\nHost: h\r\n\r\n", 400},               // an empty target
        {"GET metrics HTTP/1.1\r\nHost: h\r\n\r\n", 400},                 // not a path
        {"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400},                       // not a token
        {"GET / HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n b\r\n\r\n", 400},  // obsolete folding
        {"GET / HTTP/1.1\r\nHost: h\r\nNo colon here\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: h\r\nBad Name: v\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01z\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 12abc\r\n\r\n", 400},
        {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
        {"GET / HTTP/1.1x\r\nHost: h\r\n\r\n", 400},
    };
    for (const auto& c : cases) {
        const ParsedRequest p = parse_whole(c.head);
        EXPECT_EQ(p.outcome, Outcome::refused) << c.head;
        EXPECT_EQ(p.status, c.status) << c.head << ": " << p.reason;
        EXPECT_FALSE(p.reason.empty());
    }
}

TEST(HttpRequestParser, KeepAliveFollowsTheVersionAndTheConnectionHeader) {
    const auto keep = [](const std::string& head) { return parse_whole(head).request.keep_alive(); };
    EXPECT_TRUE(keep("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
    EXPECT_FALSE(keep("GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n"));
    EXPECT_FALSE(keep("GET / HTTP/1.1\r\nHost: h\r\nConnection: TE, close\r\n\r\n"));
    EXPECT_FALSE(keep("GET / HTTP/1.0\r\n\r\n"));  // HTTP/1.0 needs no Host
    EXPECT_TRUE(keep("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
}

}  // namespace
