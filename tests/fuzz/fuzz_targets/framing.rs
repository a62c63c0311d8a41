//! The listener's framing reader: whatever a client sends, split however the network splits it,
//! the reader queues the same verdicts and holds a bounded amount of memory.
#![no_main]

use connect_tokens::server::framing::Framing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    let (mut whole, whole_verdicts) = Framing::new();
    whole.feed(stream);
    let (mut pieces, piece_verdicts) = Framing::new();
    for piece in stream.chunks(usize::from(split).max(1)) {
        pieces.feed(piece);
        assert!(pieces.held() <= 8 * 1024, "held {}", pieces.held());
    }
    assert_eq!(whole_verdicts.queued(), piece_verdicts.queued());
});
