# tools/sidecar_soak: `make soak`'s long run of the sidecar under churning
# targets, scrape load and hostile clients. Included by the top-level Makefile.

SIDECAR_SOAK      := $(BUILD)/sidecar_soak
SIDECAR_SOAK_OBJS := $(patsubst %.cpp,$(BUILD)/%.o,$(wildcard tools/sidecar_soak/*.cpp))
TOOLS += $(SIDECAR_SOAK)

$(SIDECAR_SOAK): $(SIDECAR_SOAK_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CXX) $(SAN_FLAGS) -o $@ $^ -pthread
