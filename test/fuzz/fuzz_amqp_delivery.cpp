// What a broker user can put in a delivery (publish-subscribe): any header
// table and any body. Input: [u16 table length][AMQP field table as on the
// wire][body]. The table is decoded by rabbitmq-c as the C-node's session
// would; then the message envelope (envelope.hpp) and the control frame
// signature (signed_frame.hpp) are read from it. An envelope that is
// accepted must hold what read_envelope promises and survive a write and
// read back unchanged; no input may pass as signed with the secret.
#include "partisan/core/names.hpp"
#include "partisan/transport/amqp/envelope.hpp"
#include "partisan/transport/amqp/signed_frame.hpp"

#include <cstdlib>
#include <cstring>
#include <vector>

using namespace partisan;
using namespace partisan::amqp;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

amqp_basic_properties_t with_headers(amqp_table_t table) {
    amqp_basic_properties_t props{};
    props._flags = AMQP_BASIC_HEADERS_FLAG;
    props.headers = table;
    return props;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    const size_t table_len = (size_t{data[0]} << 8) | data[1];
    if (2 + table_len > size) return 0;
    amqp_pool_t pool;
    init_amqp_pool(&pool, 4096);
    amqp_table_t table{};
    size_t offset = 0;
    std::vector<uint8_t> encoded(data + 2, data + 2 + table_len);
    if (amqp_decode_table(amqp_bytes_t{encoded.size(), encoded.data()}, &pool, &table, &offset) == AMQP_STATUS_OK) {
        const Bytes body{data + 2 + table_len, size - 2 - table_len};
        const auto props = with_headers(table);
        Envelope e;
        if (read_envelope(props, body, "a@host", e)) {
            check(valid_node_name(e.sender));
            check(e.seq >= 1 && e.confirmed < e.seq);
            // Written again and read back: the same envelope.
            EnvelopeProperties again;
            write_envelope(e, false, again);
            Envelope back;
            check(read_envelope(again.props, body, "a@host", back));
            check(back.sender == e.sender && back.incarnation == e.incarnation && back.seq == e.seq &&
                  back.confirmed == e.confirmed && back.ref.size == e.ref.size &&
                  std::memcmp(back.ref.data, e.ref.data, e.ref.size) == 0);
        }
        static const FrameSigner signer("the cluster secret of the fuzzer");
        FrameOrigin origin;
        check(!signer.verify(props, body, origin));
    }
    empty_amqp_pool(&pool);
    return 0;
}
