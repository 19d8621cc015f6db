# tools/sidecar_bench: the scraper behind `make bench`'s sidecar load test
# (tools/bench/sidecar.sh). Included by the top-level Makefile.

SIDECAR_SCRAPER     := $(BUILD)/sidecar_scrape_bench
SIDECAR_SCRAPER_OBJ := $(BUILD)/tools/sidecar_bench/scrape_bench.o
TOOLS += $(SIDECAR_SCRAPER)

$(SIDECAR_SCRAPER_OBJ): OBJ_CXXFLAGS = $(HTTPLIB_CFLAGS)

$(SIDECAR_SCRAPER): $(SIDECAR_SCRAPER_OBJ)
	$(call msg,LD,$@)
	$(Q)$(CXX) $(SAN_FLAGS) -o $@ $^ $(HTTPLIB_LIBS) -pthread
