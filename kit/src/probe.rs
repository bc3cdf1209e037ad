//! [`healthy`]: the binary checks a running copy of itself, so a container's health check needs
//! no curl in the image (`target-app health`, `shop health <service>`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Whether `GET path` on the loopback `port` answers 200 within two seconds.
pub fn healthy(port: u16, path: &str) -> bool {
    let answer = (|| -> std::io::Result<String> {
        let timeout = Some(Duration::from_secs(2));
        let mut stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2))?;
        stream.set_read_timeout(timeout)?;
        stream.set_write_timeout(timeout)?;
        write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head)?;
        Ok(String::from_utf8_lossy(&head).into_owned())
    })();
    answer.is_ok_and(|head| head.starts_with("HTTP/1.1 200"))
}
