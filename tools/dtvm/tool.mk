# tools/dtvm: the reference VMM. Included by the top-level Makefile, which
# provides BUILD, CXX, CXXFLAGS, SAN_FLAGS, LDLIBS, LIB_A, msg, Q and the generic
# $(BUILD)/%.o: %.cpp rule.
#
# Its rooms: vm/ (the VM and its two backends, KVM and process), guest/ (the
# guest program and its workloads), tracking/ (the VM tracked with libdtrack,
# the write-stamp oracle), modes/ (the check loop, migration source and
# destination, the dirty limit), options/ (the command line); main.cpp picks
# the mode.
#
# libdtvm.a is the VM layer, vm/ guest/ tracking/ (the guest included): what
# the tests link (DTVM_LIB) and include as "dtvm/vm/vm.hpp" (-Itools). The
# binary adds modes/, options/ and main.cpp.

DTVM_LIB_SRCS  := $(wildcard tools/dtvm/vm/*.cpp tools/dtvm/guest/*.cpp tools/dtvm/tracking/*.cpp)
DTVM_CLI_SRCS  := $(wildcard tools/dtvm/modes/*.cpp tools/dtvm/options/*.cpp)
DTVM_GUEST_OBJ := $(BUILD)/tools/dtvm/guest/guest.o
DTVM_LIB_OBJS  := $(patsubst %.cpp,$(BUILD)/%.o,$(DTVM_LIB_SRCS)) $(DTVM_GUEST_OBJ)
DTVM_CLI_OBJS  := $(patsubst %.cpp,$(BUILD)/%.o,$(DTVM_CLI_SRCS))
DTVM_LIB       := $(BUILD)/libdtvm.a
DTVM           := $(BUILD)/dtvm

# dtvm's own sources name each other by room, as the tests do.
$(DTVM_LIB_OBJS) $(DTVM_CLI_OBJS) $(BUILD)/tools/dtvm/main.o: DT_CXXFLAGS += -Itools

$(DTVM_LIB): $(DTVM_LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

# The guest (guest.S) is linked in as bytes and copied into guest memory at
# run time, so it must not need relocating: any relocation in its section is
# a bug (an absolute reference to one of its own labels), caught here.
$(DTVM_GUEST_OBJ): tools/dtvm/guest/guest.S
	$(Q)mkdir -p $(@D)
	$(call msg,AS,$@)
	$(Q)as --64 -o $@ $<
	$(Q)if objdump -r -j .rodata.dtvm_guest $@ | grep -q R_X86_64; then \
	    echo "$<: the guest code needs relocations; use only relative jumps and constants" >&2; \
	    rm -f $@; exit 1; fi

# main.cpp (the CLI) may not exist yet: build the binary only once it does.
ifneq ($(wildcard tools/dtvm/main.cpp),)
TOOLS += $(DTVM)

$(DTVM): $(DTVM_CLI_OBJS) $(BUILD)/tools/dtvm/main.o $(DTVM_LIB) $(LIB_A)
	$(call msg,LD,$@)
	$(Q)$(CXX) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)
endif
