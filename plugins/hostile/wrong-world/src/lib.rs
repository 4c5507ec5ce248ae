//! Hostile fixture: a component for some other world. The host must refuse it at load.

wit_bindgen::generate!({
    inline: "
        package hark:wrong@1.0.0;
        world other {
            export plan: func() -> u32;
        }
    ",
});

struct Plugin;

impl Guest for Plugin {
    fn plan() -> u32 {
        42
    }
}

export!(Plugin);
