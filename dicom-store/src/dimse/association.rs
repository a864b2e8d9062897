//! One association, from A-ASSOCIATE-RQ to release or abort.
//!
//! The loop waits for the first fragment of a command, reassembles the
//! command, and hands over to the service handlers (`echo`, `store`, `find`),
//! which pull the data set's fragments themselves: the store streams them to
//! disk, the query keeps its small identifier in memory.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use dicom_ul::pdu::{
    AbortRQServiceProviderReason, AbortRQSource, AssociationRJ, AssociationRJResult,
    AssociationRJServiceProviderPresentationReason, AssociationRJServiceUserReason,
    AssociationRJSource, PDataValue, PDataValueType, Pdu,
};
use futures_util::FutureExt;
use tokio::net::TcpStream;
use tokio::sync::{watch, OwnedSemaphorePermit};
use tracing::{debug, info, warn, Instrument};

use super::message::{encode_message, field, Command, Response};
use super::negotiate::{self, Context};
use super::transport::Transport;
use super::{Admission, DimseConfig, DimseError, DimseService, Refusal};

/// Command sets are a few hundred bytes; anything near this is hostile.
const COMMAND_LIMIT: usize = 64 * 1024;

/// What arrives from the peer, one PDV or control PDU at a time.
enum Event {
    Pdv(PDataValue),
    Release,
    Abort,
    Closed,
}

/// An established association.
pub(crate) struct Association {
    transport: Transport,
    contexts: std::collections::HashMap<u8, Context>,
    peer_max_pdu: u32,
    pub(crate) admission: Admission,
    pub(crate) service: Arc<dyn DimseService>,
    pub(crate) config: Arc<DimseConfig>,
    /// Events read but not yet consumed: a P-DATA PDU may hold several PDVs,
    /// and a cancel check may read ahead.
    pending: VecDeque<Event>,
    /// The last Message ID of a request we sent (C-GET sub-operations).
    sent_requests: u16,
    /// A C-CANCEL-RQ read while awaiting a sub-operation's response.
    cancel_seen: bool,
}

/// Runs one connection to completion; every error is logged here, once.
pub(crate) async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    service: Arc<dyn DimseService>,
    config: Arc<DimseConfig>,
    abort: watch::Receiver<bool>,
    permit: Option<OwnedSemaphorePermit>,
) {
    let span = tracing::info_span!(
        "dimse_association",
        %peer,
        calling_ae = tracing::field::Empty,
        facility_id = tracing::field::Empty,
    );
    async move {
        // `None` means the association limit is reached and the request
        // will be refused. Otherwise the permit is held until this task
        // ends, which is what frees the slot.
        let busy = permit.is_none();
        let _slot = permit;
        let mut stop = abort.clone();
        // A peer that connects and then dawdles must not hold up shutdown
        // for the whole ARTIM time, so establishment also watches `stop`.
        let established = tokio::select! {
            established = establish(stream, peer, service, config, busy) => established,
            () = stopped(&mut stop) => {
                debug!("connection dropped for shutdown before association");
                return;
            }
        };
        match established {
            Ok(Some(association)) => {
                let (service, admission) =
                    (association.service.clone(), association.admission.clone());
                match association.serve(abort).await {
                    Ok(()) => debug!("association ended"),
                    Err(error) => warn!(%error, "association failed"),
                }
                service.released(&admission).await;
            }
            Ok(None) => {}
            Err(error) => warn!(%error, "association could not be established"),
        }
    }
    .instrument(span)
    .await
}

/// Reads the A-ASSOCIATE-RQ and answers it. `Ok(None)` when the request was
/// rejected or the peer went away first.
async fn establish(
    stream: TcpStream,
    peer: SocketAddr,
    service: Arc<dyn DimseService>,
    config: Arc<DimseConfig>,
    busy: bool,
) -> Result<Option<Association>, DimseError> {
    let stream: Box<dyn super::transport::Stream> = match &config.tls {
        None => Box::new(stream),
        // The handshake is part of establishment: ARTIM bounds it too.
        Some(tls) => {
            let handshake = tokio::time::timeout(config.artim_timeout, tls.0.accept(stream));
            match handshake.await {
                Ok(Ok(tls)) => Box::new(tls),
                Ok(Err(error)) => {
                    info!(%error, "TLS handshake refused");
                    return Ok(None);
                }
                Err(_) => return Err(DimseError::Timeout(config.artim_timeout)),
            }
        }
    };
    let mut transport = Transport::new(stream, config.max_pdu, config.write_timeout);
    // ARTIM (PS3.8 §9.1.5): a connection that never asks for an
    // association is dropped after this long.
    let rq = match transport.read(config.artim_timeout).await? {
        Some(Pdu::AssociationRQ(rq)) => rq,
        Some(_) => {
            abort(&mut transport, AbortRQServiceProviderReason::UnexpectedPdu).await;
            return Err(DimseError::Protocol("expected A-ASSOCIATE-RQ"));
        }
        None => return Ok(None),
    };
    let calling = rq.calling_ae_title.trim().to_string();
    let called = rq.called_ae_title.trim().to_string();
    tracing::Span::current().record("calling_ae", calling.as_str());

    let checked = negotiate::check_request(&rq).and_then(|()| {
        if busy {
            return Err(AssociationRJ {
                result: AssociationRJResult::Transient,
                source: AssociationRJSource::ServiceProviderPresentation(
                    AssociationRJServiceProviderPresentationReason::LocalLimitExceeded,
                ),
            });
        }
        if called != config.ae_title {
            return Err(negotiate::reject_user(
                AssociationRJServiceUserReason::CalledAETitleNotRecognized,
            ));
        }
        Ok(())
    });
    let decision = match checked {
        // Admission may consult a database; the peer is still within ARTIM.
        Ok(()) => service
            .admit(&calling, &called, peer)
            .await
            .map_err(rejection_for),
        Err(rj) => Err(rj),
    };
    let admission = match decision {
        Ok(admission) => admission,
        Err(rj) => {
            info!(source = ?rj.source, "association rejected");
            transport.write(&Pdu::AssociationRJ(rj)).await?;
            transport.shutdown().await;
            return Ok(None);
        }
    };
    tracing::Span::current().record("facility_id", admission.facility_id());

    let negotiated = negotiate::negotiate(&rq, config.max_pdu);
    if let Err(error) = transport
        .write(&Pdu::AssociationAC(negotiated.accept))
        .await
    {
        // Admitted, so the service may hold something for it (a per-title
        // slot): tell it the association is over.
        service.released(&admission).await;
        return Err(error);
    }
    debug!(
        contexts = negotiated.contexts.len(),
        proposed = rq.presentation_contexts.len(),
        "association accepted"
    );
    Ok(Some(Association {
        transport,
        contexts: negotiated.contexts,
        peer_max_pdu: negotiated.peer_max_pdu,
        admission,
        service,
        config,
        pending: VecDeque::new(),
        sent_requests: 0,
        cancel_seen: false,
    }))
}

fn rejection_for(refusal: Refusal) -> AssociationRJ {
    use AssociationRJServiceUserReason as Reason;
    match refusal {
        Refusal::CallingAeNotRecognized => {
            negotiate::reject_user(Reason::CallingAETitleNotRecognized)
        }
        Refusal::CalledAeNotRecognized => {
            negotiate::reject_user(Reason::CalledAETitleNotRecognized)
        }
        Refusal::NoReasonGiven => negotiate::reject_user(Reason::NoReasonGiven),
        Refusal::Busy => AssociationRJ {
            result: AssociationRJResult::Transient,
            source: AssociationRJSource::ServiceProviderPresentation(
                AssociationRJServiceProviderPresentationReason::LocalLimitExceeded,
            ),
        },
    }
}

/// Completes once the listener says associations must stop (or is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // `wait_for` yields a guard that holds a lock; it is dropped right here
    // so that no lock is held across an await.
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Sends an A-ABORT and closes, ignoring failures: the peer may be gone.
async fn abort(transport: &mut Transport, reason: AbortRQServiceProviderReason) {
    let pdu = Pdu::AbortRQ {
        source: AbortRQSource::ServiceProvider(reason),
    };
    let _ = transport.write(&pdu).await;
    transport.shutdown().await;
}

impl Association {
    /// The message loop, until release, abort, or the server's abort signal.
    async fn serve(mut self, mut stop: watch::Receiver<bool>) -> Result<(), DimseError> {
        let result = self.message_loop(&mut stop).await;
        if let Err(error) = &result {
            // Whatever went wrong, tell the peer the association is over
            // (best effort: it may be the peer that is gone).
            let reason = match error {
                DimseError::PeerAborted => None,
                DimseError::Protocol(_) | DimseError::Command(_) => {
                    Some(AbortRQServiceProviderReason::UnexpectedPduParameter)
                }
                DimseError::Pdu(_) | DimseError::PduTooLarge { .. } => {
                    Some(AbortRQServiceProviderReason::InvalidPduParameter)
                }
                _ => Some(AbortRQServiceProviderReason::ReasonNotSpecified),
            };
            if let Some(reason) = reason {
                abort(&mut self.transport, reason).await;
            }
        }
        result
    }

    async fn message_loop(&mut self, stop: &mut watch::Receiver<bool>) -> Result<(), DimseError> {
        loop {
            let event = tokio::select! {
                () = stopped(stop) => None,
                event = self.next_event() => Some(event?),
            };
            let Some(event) = event else {
                // Shutdown's grace period is over: abort rather than leave
                // the peer waiting on a socket we are about to drop.
                info!("aborting association for shutdown");
                abort(
                    &mut self.transport,
                    AbortRQServiceProviderReason::ReasonNotSpecified,
                )
                .await;
                return Ok(());
            };
            match event {
                Event::Pdv(first) => self.message(first).await?,
                Event::Release => {
                    self.transport.write(&Pdu::ReleaseRP).await?;
                    self.transport.shutdown().await;
                    return Ok(());
                }
                Event::Abort => {
                    debug!("peer aborted");
                    return Ok(());
                }
                Event::Closed => {
                    debug!("peer closed the connection without releasing");
                    return Ok(());
                }
            }
        }
    }

    /// The next event, from the read-ahead queue or the socket. Cancel-safe:
    /// the only await is the transport's read, which is.
    async fn next_event(&mut self) -> Result<Event, DimseError> {
        if let Some(event) = self.pending.pop_front() {
            return Ok(event);
        }
        let pdu = self.transport.read(self.config.idle_timeout).await?;
        self.queue(pdu)?;
        Ok(self.pending.pop_front().unwrap_or(Event::Closed))
    }

    fn queue(&mut self, pdu: Option<Pdu>) -> Result<(), DimseError> {
        match pdu {
            Some(Pdu::PData { data }) => self.pending.extend(data.into_iter().map(Event::Pdv)),
            Some(Pdu::ReleaseRQ) => self.pending.push_back(Event::Release),
            Some(Pdu::AbortRQ { .. }) => self.pending.push_back(Event::Abort),
            Some(_) => {
                return Err(DimseError::Protocol(
                    "unexpected PDU on an established association",
                ))
            }
            None => self.pending.push_back(Event::Closed),
        }
        Ok(())
    }

    /// The next PDV of a message in progress; anything else is an error.
    async fn next_pdv(&mut self) -> Result<PDataValue, DimseError> {
        match self.next_event().await? {
            Event::Pdv(pdv) => Ok(pdv),
            Event::Release => Err(DimseError::Protocol("release in the middle of a message")),
            Event::Abort => Err(DimseError::PeerAborted),
            Event::Closed => Err(DimseError::UnexpectedEof),
        }
    }

    /// The next fragment of the data set on `context_id`: its bytes and
    /// whether it is the last.
    pub(crate) async fn data_fragment(
        &mut self,
        context_id: u8,
    ) -> Result<(Vec<u8>, bool), DimseError> {
        let pdv = self.next_pdv().await?;
        if pdv.presentation_context_id != context_id {
            return Err(DimseError::Protocol(
                "data fragment on another presentation context",
            ));
        }
        if pdv.value_type != PDataValueType::Data {
            return Err(DimseError::Protocol("command fragment inside a data set"));
        }
        Ok((pdv.data, pdv.is_last))
    }

    /// Reads and drops a data set we will not use, so the stream stays in step.
    pub(crate) async fn skip_data_set(&mut self, context_id: u8) -> Result<(), DimseError> {
        while !self.data_fragment(context_id).await?.1 {}
        Ok(())
    }

    /// Reassembles a command set from its first fragment on.
    async fn command_from(&mut self, first: PDataValue) -> Result<(u8, Command), DimseError> {
        if first.value_type != PDataValueType::Command {
            return Err(DimseError::Protocol(
                "data fragment where a command was expected",
            ));
        }
        let context_id = first.presentation_context_id;
        let mut bytes = first.data;
        let mut last = first.is_last;
        while !last {
            let pdv = self.next_pdv().await?;
            if pdv.presentation_context_id != context_id
                || pdv.value_type != PDataValueType::Command
            {
                return Err(DimseError::Protocol("command fragments interleaved"));
            }
            bytes.extend_from_slice(&pdv.data);
            if bytes.len() > COMMAND_LIMIT {
                return Err(DimseError::Protocol("command set too large"));
            }
            last = pdv.is_last;
        }
        Ok((context_id, Command::decode(&bytes)?))
    }

    /// The next command the peer sends (a C-STORE-RSP to a C-GET's
    /// sub-operation, or a C-CANCEL-RQ), within the idle timeout.
    pub(crate) async fn next_command(&mut self) -> Result<(u8, Command), DimseError> {
        let first = self.next_pdv().await?;
        self.command_from(first).await
    }

    /// The contexts on which the peer takes the SCP role for `sop_class`
    /// (instances of a C-GET, a storage commitment result), as (id,
    /// transfer syntax).
    pub(crate) fn storage_contexts_for(&self, sop_class: &str) -> Vec<(u8, String)> {
        let mut found: Vec<(u8, String)> = self
            .contexts
            .iter()
            .filter(|(_, c)| c.peer_is_scp && c.abstract_syntax == sop_class)
            .map(|(id, c)| (*id, c.transfer_syntax.clone()))
            .collect();
        found.sort();
        found
    }

    /// Notes a C-CANCEL-RQ for the operation in progress, read while
    /// awaiting something else: the next cancel check sees it.
    pub(crate) fn cancel_seen(&mut self) {
        self.cancel_seen = true;
    }

    /// A Message ID for a request of ours on this association.
    pub(crate) fn next_message_id(&mut self) -> u16 {
        self.sent_requests = self.sent_requests.wrapping_add(1).max(1);
        self.sent_requests
    }

    /// Sends a whole message (command and data set) as one write.
    pub(crate) async fn send_message(
        &mut self,
        context_id: u8,
        command: &[u8],
        data_set: Option<&[u8]>,
    ) -> Result<(), DimseError> {
        let bytes = encode_message(context_id, command, data_set, self.peer_max_pdu)?;
        self.transport.write_raw(&bytes).await
    }

    /// Handles one DIMSE message, starting from its first command fragment.
    async fn message(&mut self, first: PDataValue) -> Result<(), DimseError> {
        let (context_id, command) = self.command_from(first).await?;
        let context = self
            .contexts
            .get(&context_id)
            .cloned()
            .ok_or(DimseError::Protocol("presentation context not accepted"))?;
        match command.field()? {
            field::C_ECHO_RQ => self.echo(context_id, &context, &command).await,
            field::C_STORE_RQ => self.store(context_id, &context, &command).await,
            field::C_FIND_RQ => self.find(context_id, &context, &command).await,
            field::C_GET_RQ | field::C_MOVE_RQ => {
                self.retrieve(context_id, &context, &command).await
            }
            field::N_CREATE_RQ | field::N_SET_RQ => {
                self.procedure_step(context_id, &context, &command).await
            }
            field::N_ACTION_RQ => self.commitment(context_id, &context, &command).await,
            // A cancel for an operation that has already finished: nothing
            // to do (PS3.7 §9.3.2.3 lets it arrive late).
            field::C_CANCEL_RQ => Ok(()),
            _ => Err(DimseError::Protocol("unsupported DIMSE command")),
        }
    }

    /// Sends one response, with its data set if any, as a single write.
    pub(crate) async fn respond(
        &mut self,
        context_id: u8,
        response: &Response,
        data_set: Option<&[u8]>,
    ) -> Result<(), DimseError> {
        let bytes = encode_message(context_id, &response.encode(), data_set, self.peer_max_pdu)?;
        self.transport.write_raw(&bytes).await
    }

    /// Whether a C-CANCEL-RQ for `message_id` has arrived, without waiting
    /// for one. Anything else read on the way stays queued for later.
    pub(crate) fn cancel_requested(&mut self, message_id: u16) -> Result<bool, DimseError> {
        if std::mem::take(&mut self.cancel_seen) {
            return Ok(true);
        }
        if self.pending.is_empty() {
            if let Some(read) = self.transport.read(self.config.idle_timeout).now_or_never() {
                self.queue(read?)?;
            }
        }
        let Some(Event::Pdv(pdv)) = self.pending.front() else {
            return Ok(false);
        };
        // A C-CANCEL-RQ is a lone command set of a few dozen bytes, so it
        // always comes as one last fragment.
        if pdv.value_type != PDataValueType::Command || !pdv.is_last {
            return Ok(false);
        }
        let command = Command::decode(&pdv.data)?;
        if command.field()? != field::C_CANCEL_RQ {
            return Ok(false);
        }
        self.pending.pop_front();
        Ok(command.responding_to() == Some(message_id))
    }
}
