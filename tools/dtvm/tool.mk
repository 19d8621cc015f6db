# tools/dtvm: the reference VMM. Included by the top-level Makefile, which
# provides BUILD, CXX, CXXFLAGS, SAN_FLAGS, LDLIBS, LIB_A, msg, Q and the generic
# $(BUILD)/%.o: %.cpp rule.
#
# DTVM_OBJS is everything but main.o (the guest included), for tests to link.

DTVM_SRCS      := $(filter-out tools/dtvm/main.cpp,$(wildcard tools/dtvm/*.cpp))
DTVM_GUEST_OBJ := $(BUILD)/tools/dtvm/guest.o
DTVM_OBJS      := $(patsubst %.cpp,$(BUILD)/%.o,$(DTVM_SRCS)) $(DTVM_GUEST_OBJ)
DTVM           := $(BUILD)/dtvm

# The guest (guest.S) is linked in as bytes and copied into guest memory at
# run time, so it must not need relocating: any relocation in its section is
# a bug (an absolute reference to one of its own labels), caught here.
$(DTVM_GUEST_OBJ): tools/dtvm/guest.S
	$(Q)mkdir -p $(@D)
	$(call msg,AS,$@)
	$(Q)as --64 -o $@ $<
	$(Q)if objdump -r -j .rodata.dtvm_guest $@ | grep -q R_X86_64; then \
	    echo "$<: the guest code needs relocations; use only relative jumps and constants" >&2; \
	    rm -f $@; exit 1; fi

# main.cpp (the CLI) may not exist yet: build the binary only once it does.
ifneq ($(wildcard tools/dtvm/main.cpp),)
TOOLS += $(DTVM)

$(DTVM): $(DTVM_OBJS) $(BUILD)/tools/dtvm/main.o $(LIB_A)
	$(call msg,LD,$@)
	$(Q)$(CXX) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)
endif
